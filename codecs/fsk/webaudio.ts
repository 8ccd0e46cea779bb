/// <reference lib="dom" preserve="true" />
// The public types of this browser module are DOM types (IDBFactory, LockManager, AudioBuffer...): a Node project
// that imports its entry point without the DOM lib still type-checks (the declaration keeps this reference).
/**
 * Web Audio adapters (browsers; tested in Node with the `web-audio-api` package).
 *
 * Playback: encode at the context's sample rate into an AudioBuffer and play it through an
 * AudioBufferSourceNode. Capture: an AudioWorklet processor (source text below, registered as
 * 'offpay-fsk-capture') copies its input's first channel and posts it to the main thread in batches; the
 * main-thread wrapper feeds an FskReceiver. The receiver accepts any block size, so 128-frame render
 * quanta work as they are.
 */
import { encode, type FskEncodeOptions } from './modulate.js';
import { FskReceiver, RECEIVER_OPTIONS_SCHEMA, type ReceiverEvent, type ReceiverOptions } from './receive.js';
import { validateOptions, type OptionsSchema } from '../../base/options.js';

/** An AudioBuffer holding `samples` (which must be at ctx.sampleRate), mono. */
export function toAudioBuffer(ctx: BaseAudioContext, samples: Float32Array): AudioBuffer {
  const buffer = ctx.createBuffer(1, Math.max(1, samples.length), ctx.sampleRate);
  buffer.getChannelData(0).set(samples);
  return buffer;
}

/** Encode `payload` at the context's rate into an AudioBuffer. */
export function encodeToAudioBuffer(ctx: BaseAudioContext, payload: Uint8Array, options: Omit<FskEncodeOptions, 'sampleRate'> = {}): AudioBuffer {
  // An options value that is not an object reaches encode() as is, to be refused there (fsk.bad_input).
  const o = typeof options === 'object' && options !== null ? { ...options, sampleRate: ctx.sampleRate } : options;
  return toAudioBuffer(ctx, encode(payload, o as FskEncodeOptions));
}

/** Play `payload` on ctx.destination (or `destination`) at time `when`; returns the started source node. */
export function playPayload(
  ctx: BaseAudioContext, payload: Uint8Array,
  options: Omit<FskEncodeOptions, 'sampleRate'> & { when?: number; destination?: AudioNode } = {},
): AudioBufferSourceNode {
  const { when, destination, ...encodeOptions } = options ?? {};
  const src = ctx.createBufferSource();
  src.buffer = encodeToAudioBuffer(ctx, payload, encodeOptions);
  src.connect(destination ?? ctx.destination);
  src.start(when ?? 0);
  return src;
}

/** The name the capture AudioWorkletProcessor registers under (`offpay-fsk-capture`). */
export const CAPTURE_PROCESSOR_NAME = 'offpay-fsk-capture';

/**
 * Source of the capture AudioWorkletProcessor (one source for the library and the playground, which serves it
 * as a file because its CSP forbids data: URLs). processorOptions:
 *  - `batch` (128..16384, default 1024; 128 sends every render quantum): it collects that many frames of input
 *    channel 0 and transfers each batch as a Float32Array, on its own port, or on the MessagePort the page
 *    hands it with `{type: 'port', port}` (a decoder Worker: the samples then never pass the main thread);
 *  - `level` (boolean): it also posts `{type: 'level', rmsDbfs, peakDbfs}` of each batch on its own port:
 *    RMS = 10·log10(Σx²/n + 1e-20), peak = 20·log10(max|x| + 1e-10), dBFS (full scale = 1.0).
 * It outputs silence and keeps running while its input is connected, until it is sent 'stop'.
 */
export const CAPTURE_WORKLET_SOURCE = `
class OffpayFskCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = (options && options.processorOptions) || {};
    this.batch = Math.max(128, Math.min(16384, o.batch | 0 || 1024));
    this.level = o.level === true;
    this.buf = new Float32Array(this.batch);
    this.fill = 0;
    this.sink = null;
    this.stopped = false;
    this.port.onmessage = (e) => {
      if (e.data === 'stop') this.stopped = true;
      else if (e.data && e.data.type === 'port') this.sink = e.data.port;
    };
  }
  process(inputs) {
    if (this.stopped) return false;
    const ch = inputs[0] && inputs[0][0];
    if (!ch) return true;
    let i = 0;
    while (i < ch.length) {
      const n = Math.min(ch.length - i, this.batch - this.fill);
      this.buf.set(ch.subarray(i, i + n), this.fill);
      this.fill += n;
      i += n;
      if (this.fill === this.batch) {
        const out = this.buf;
        if (this.level) {
          let sum = 0;
          let peak = 0;
          for (let k = 0; k < out.length; k++) {
            const v = out[k];
            sum += v * v;
            const a = v < 0 ? -v : v;
            if (a > peak) peak = a;
          }
          this.port.postMessage({ type: 'level', rmsDbfs: 10 * Math.log10(sum / out.length + 1e-20), peakDbfs: 20 * Math.log10(peak + 1e-10) });
        }
        (this.sink || this.port).postMessage(out, [out.buffer]);
        this.buf = new Float32Array(this.batch);
        this.fill = 0;
      }
    }
    return true;
  }
}
registerProcessor('${CAPTURE_PROCESSOR_NAME}', OffpayFskCapture);
`;

/** A URL for audioWorklet.addModule(): a data: URL of CAPTURE_WORKLET_SOURCE. */
export function captureModuleUrl(): string {
  return 'data:text/javascript;charset=utf-8,' + encodeURIComponent(CAPTURE_WORKLET_SOURCE);
}

/** A running capture from {@link startCapture}: the worklet node, the streaming receiver, and `stop`. */
export interface CaptureHandle {
  /** The capture worklet node (connected to the source). */
  node: AudioWorkletNode;
  /** The receiver the captured samples are pushed to. */
  receiver: FskReceiver;
  /** Stop capturing: disconnects the node and flushes the receiver (its events go to onEvent). */
  stop(): ReceiverEvent[];
}

/** The schema of startCapture's options: the receiver's (but sampleRate, the context's), batch, moduleUrl, onLevel, the node class. */
export const CAPTURE_OPTIONS_SCHEMA: OptionsSchema = {
  ...Object.fromEntries(Object.entries(RECEIVER_OPTIONS_SCHEMA).filter(([k]) => k !== 'sampleRate')),
  batch: { type: 'integer', min: 128, max: 16384, unit: 'frames' },
  moduleUrl: { type: 'string' },
  onLevel: { type: 'function' },
  AudioWorkletNodeClass: { type: 'function' },
};

/** The input level of one captured batch, dBFS (full scale = 1.0): see {@link CAPTURE_WORKLET_SOURCE}. */
export interface CaptureLevel {
  /** 10·log10(mean square + 1e-20): about -200 for digital silence. */
  rmsDbfs: number;
  /** 20·log10(max |sample| + 1e-10): 0 at full scale. */
  peakDbfs: number;
}

/**
 * Capture from `source` (e.g. a MediaStreamAudioSourceNode) into a streaming receiver. Events go to
 * options.onEvent. `batch` sets the frames per message from the worklet (128 = every render quantum);
 * `onLevel` is called with each batch's level (a level meter); `moduleUrl` serves the worklet source from a
 * URL of yours (a page whose CSP forbids data: URLs serves CAPTURE_WORKLET_SOURCE as a file).
 */
export async function startCapture(
  ctx: BaseAudioContext, source: AudioNode,
  options: Omit<ReceiverOptions, 'sampleRate'> & {
    batch?: number; moduleUrl?: string; onLevel?: (level: CaptureLevel) => void; AudioWorkletNodeClass?: typeof AudioWorkletNode;
  } = {},
): Promise<CaptureHandle> {
  validateOptions('startCapture options', options, CAPTURE_OPTIONS_SCHEMA, 'fsk.bad_input');
  const { batch: _batch, moduleUrl: _url, onLevel, AudioWorkletNodeClass: _class, ...receiverOptions } = options;
  await ctx.audioWorklet.addModule(options.moduleUrl ?? captureModuleUrl());
  const receiver = new FskReceiver({ ...receiverOptions, sampleRate: ctx.sampleRate });
  const Ctor = options.AudioWorkletNodeClass ?? AudioWorkletNode;
  const node = new Ctor(ctx, CAPTURE_PROCESSOR_NAME, {
    numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1], processorOptions: { batch: options.batch ?? 1024, level: onLevel !== undefined },
  });
  node.port.onmessage = (e: MessageEvent) => {
    const d: unknown = e.data;
    if (d instanceof Float32Array) receiver.push(d);
    else if (onLevel && typeof d === 'object' && d !== null && (d as { type?: unknown }).type === 'level') {
      const l = d as CaptureLevel;
      onLevel({ rmsDbfs: l.rmsDbfs, peakDbfs: l.peakDbfs });
    }
  };
  source.connect(node);
  // Keep the node pulled by the graph; its output is silent.
  node.connect(ctx.destination);
  return {
    node,
    receiver,
    stop() {
      node.port.postMessage('stop');
      try {
        source.disconnect(node);
        node.disconnect();
      } catch {
        // already disconnected
      }
      return receiver.flush();
    },
  };
}
