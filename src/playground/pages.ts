/**
 * The playground's HTML. No inline script or style (the CSP forbids both): each page loads its bundle
 * from /web/ and the shared stylesheet. Every page carries a banner saying whose keys it holds: DEMO for the
 * throw-away issuer, or the real issuer and reader ids (spec/playground.md §1.2).
 */
export type PageName = 'reader' | 'wallet';

/** Who the server serves as, for the banner and the index links. */
export interface PageWorld {
  demo: boolean;
  issuerId: number;
  readers: { name: 'vending' | 'gate'; readerId: number }[];
}

const DEMO_BANNER = 'DEMO — a throw-away issuer made by this server; its reader keys are in this page. No real money.';

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The banner text: DEMO, or the issuer and readers this server acts as (their secret keys are in the reader page). */
export function bannerText(w: PageWorld): string {
  if (w.demo) return DEMO_BANNER;
  const readers = w.readers.map((r) => `${r.name === 'gate' ? 'gate' : 'vending machine'} ${r.readerId}`).join(' and ');
  return `Issuer ${w.issuerId} — the reader page holds the secret keys of ${readers}: whoever opens it acts as ${w.readers.length > 1 ? 'those readers' : 'that reader'}.`;
}

function shell(w: PageWorld, title: string, script: string | undefined, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/web/playground.css">
${script ? `<script type="module" src="/web/${script}"></script>` : ''}
</head>
<body>
<div class="banner${w.demo ? '' : ' real'}" id="banner" role="status">${escapeHtml(bannerText(w))}</div>
${body}
</body>
</html>
`;
}

export function pageHtml(name: PageName | 'index', w: PageWorld): string {
  if (name === 'reader') {
    return shell(w, 'offpay reader', 'reader.js', `
<main class="reader">
  <h1 id="title">offpay reader</h1>
  <p id="what" class="what"></p>
  <button id="start" type="button" hidden>Start listening</button>
  <div id="verdict" class="verdict idle">waiting</div>
  <p id="detail" class="detail"></p>
  <section class="signal">
    <h2>Microphone</h2>
    <meter id="level" min="-90" max="0" low="-60" high="-12" optimum="-30" value="-90"></meter> <span id="levelText">—</span>
    <p id="granted" class="mono">not started</p>
    <canvas id="spectrogram" width="640" height="200" aria-label="spectrogram of the microphone, FSK profile bands marked on the right"></canvas>
    <h2>Last frame</h2>
    <p id="frame" class="mono">none yet</p>
    <p id="cpu" class="mono small"></p>
  </section>
  <section id="requestBox" class="request" hidden>
    <h2>Payment request</h2>
    <img id="requestQr" alt="payment request QR code">
    <p id="payment-code" class="payment-code mono"></p>
  </section>
  <p class="mono small" id="store"></p>
</main>`);
  }
  if (name === 'wallet') {
    return shell(w, 'offpay wallet', 'wallet.js', `
<main class="wallet">
  <h1>offpay wallet</h1>
  <p id="identity" class="mono">loading…</p>
  <label>Payment code from the reader <input id="payment-code" inputmode="numeric" autocomplete="off" placeholder="1234 5678 9012 3456 7890"></label>
  <label>or a gate fare <input id="fare" inputmode="decimal" placeholder="2.00"></label>
  <label>Profile <select id="profile"></select></label>
  <div class="buttons">
    <button id="paySound" type="button">Pay by sound</button>
    <button id="payQr" type="button">Show as QR code</button>
  </div>
  <p id="status" class="status"></p>
  <img id="tokenQr" alt="" hidden>
</main>`);
  }
  const links = w.readers.map((r) =>
    r.name === 'gate'
      ? `    <li><a href="/reader?fare=2.00&amp;currency=HKD">Gate ${r.readerId} (fare HKD 2.00)</a></li>`
      : `    <li><a href="/reader?amount=12.50&amp;currency=HKD">Vending machine ${r.readerId} (HKD 12.50, a payment code to key in)</a></li>\n    <li><a href="/reader?amount=12.50&amp;currency=HKD&amp;via=qr">Vending machine ${r.readerId} (HKD 12.50, a signed request QR code for the wallet's camera)</a></li>`,
  );
  return shell(w, 'offpay playground', undefined, `
<main>
  <h1>offpay playground</h1>
  <ul>
${[...links, '    <li><a href="/wallet">Wallet</a></li>'].join('\n')}
  </ul>
</main>`);
}
