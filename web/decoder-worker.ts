/**
 * offpay playground: the FSK decoder, in a dedicated Worker (never on the page's main thread).
 *
 * The page sends { type: 'init', sampleRate, port }: `port` is the other end of the MessageChannel whose
 * first end the capture AudioWorklet writes Float32Array batches into. The worker runs one FskReceiver
 * listening for every profile the rate can carry (spec/fsk.md §7.1) and posts to the page:
 *   { type: 'frame', diagnostics }        a decoded frame (SNR, clock offset, corrected bytes, ...)
 *   { type: 'message', payload, profile } a reassembled payload (a token to judge)
 *   { type: 'failure', code, reason }     a frame that was heard but could not be decoded
 *   { type: 'error', message }            the receiver itself failed (bad rate)
 *   { type: 'load', share, overall }      decoder time / audio time (fraction of one core), last ~2 s and overall
 */
import { FskReceiver, type ReceiverEvent } from '../codecs/fsk/receive.js';

interface Init { type: 'init'; sampleRate: number; port: MessagePort }

/** The worker global scope (tsconfig has the DOM lib, not WebWorker): only what is used here. */
const scope = self as unknown as { postMessage(m: unknown): void; onmessage: ((m: MessageEvent<Init>) => void) | null };

function forward(e: ReceiverEvent): void {
  if (e.type === 'frame') scope.postMessage({ type: 'frame', diagnostics: e.frame.diagnostics, segment: e.frame.segment });
  else if (e.type === 'message') scope.postMessage({ type: 'message', payload: e.payload, profile: e.profile });
  else if (e.type === 'failure') scope.postMessage({ type: 'failure', code: e.code, reason: e.reason, profile: e.profile });
}

scope.onmessage = (m: MessageEvent<Init>) => {
  if (m.data?.type !== 'init') return;
  let rx: FskReceiver;
  try {
    rx = new FskReceiver({ sampleRate: m.data.sampleRate, onEvent: forward });
  } catch (e) {
    scope.postMessage({ type: 'error', message: (e as Error).message });
    return;
  }
  scope.postMessage({ type: 'ready', sampleRate: m.data.sampleRate });
  // Decoder load: time spent in push() over the audio time pushed, reported every ~2 s of audio.
  const rate = m.data.sampleRate;
  let busyMs = 0;
  let samples = 0;
  let totalBusyMs = 0;
  let totalSamples = 0;
  m.data.port.onmessage = (b: MessageEvent<Float32Array>) => {
    if (!(b.data instanceof Float32Array)) return;
    const t0 = performance.now();
    rx.push(b.data);
    busyMs += performance.now() - t0;
    samples += b.data.length;
    if (samples >= 2 * rate) {
      totalBusyMs += busyMs;
      totalSamples += samples;
      scope.postMessage({ type: 'load', share: busyMs / ((samples / rate) * 1000), overall: totalBusyMs / ((totalSamples / rate) * 1000), seconds: totalSamples / rate });
      busyMs = 0;
      samples = 0;
    }
  };
};
