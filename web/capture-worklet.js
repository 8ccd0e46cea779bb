// offpay playground: AudioWorklet capture processor (served as /web/capture-worklet.js; CSP forbids data: URLs).
// It does no decoding: it batches input channel 0 and transfers each batch to the decoder Worker through the
// MessagePort the page hands it ({ type: 'port', port }), so the samples never pass through the main thread.
// It posts the batch's RMS and peak (dBFS) to the page for the level meter.
class OffpayPlaygroundCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = (options && options.processorOptions) || {};
    this.batch = Math.max(128, Math.min(16384, o.batch | 0 || 2048));
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
        let sum = 0;
        let peak = 0;
        for (let k = 0; k < out.length; k++) {
          const v = out[k];
          sum += v * v;
          const a = v < 0 ? -v : v;
          if (a > peak) peak = a;
        }
        this.port.postMessage({ type: 'level', rmsDbfs: 10 * Math.log10(sum / out.length + 1e-20), peakDbfs: 20 * Math.log10(peak + 1e-10) });
        if (this.sink) this.sink.postMessage(out, [out.buffer]);
        this.buf = new Float32Array(this.batch);
        this.fill = 0;
      }
    }
    return true;
  }
}
registerProcessor('offpay-playground-capture', OffpayPlaygroundCapture);
