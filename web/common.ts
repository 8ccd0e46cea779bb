/** Shared helpers of the playground pages. */
export function $(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page element #${id} is missing`);
  return el;
}

export interface Setup {
  demo: boolean;
  issuerKeys: string;
  /** A signed, empty blocklist from the demo issuer, issued now. */
  blocklist: string;
  readers: { name: 'vending' | 'gate'; readerId: number; secretKey: string; cert: string }[];
}

export async function fetchSetup(): Promise<Setup> {
  const r = await fetch('/api/setup');
  if (!r.ok) throw new Error(`/api/setup: HTTP ${r.status}`);
  return (await r.json()) as Setup;
}

/** Show an error on the page (and for tests in document.body.dataset.error). */
export function showError(e: unknown): void {
  const msg = e instanceof Error ? `${(e as { code?: string }).code ? `${(e as { code?: string }).code}: ` : ''}${e.message}` : String(e);
  document.body.dataset.error = msg;
  const box = document.getElementById('verdict') ?? document.getElementById('status');
  if (box) {
    box.className = box.id === 'verdict' ? 'verdict rejected' : 'status';
    box.textContent = `error: ${msg}`;
  }
}
