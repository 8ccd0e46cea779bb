/**
 * A scrolling spectrogram of the microphone with the FSK profile bands marked (issue 14, reader page).
 * Drawn from an AnalyserNode (the browser's own FFT, 2,048 points, no smoothing): display only, no decoding.
 * Vertical axis: 0 Hz (bottom) to min(20 kHz, Nyquist) (top), linear. Colour: -110 dBFS (dark) to -30 dBFS
 * (bright). Each profile's tone band (baseHz .. last tone) is a coloured bar on the right edge, labelled.
 */
import { FSK_PROFILES, toneHz } from '../codecs/fsk/profiles.js';

const COLORS: Record<string, string> = { fast: '#42a5f5', robust: '#66bb6a', ultrasonic: '#ab47bc', turbo: '#ffa726' };
const LEGEND = 70;

export function startSpectrogram(ctx: BaseAudioContext, source: AudioNode, canvas: HTMLCanvasElement): void {
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 2048;
  analyser.smoothingTimeConstant = 0;
  source.connect(analyser);
  const bins = new Float32Array(analyser.frequencyBinCount);
  const g = canvas.getContext('2d')!;
  const w = canvas.width;
  const h = canvas.height;
  const plot = w - LEGEND;
  const maxHz = Math.min(20_000, ctx.sampleRate / 2);
  const yOf = (hz: number) => Math.round(h - (hz / maxHz) * h);
  g.fillStyle = '#000';
  g.fillRect(0, 0, w, h);
  // Legend: the tone band of each profile the rate can carry.
  g.font = '11px sans-serif';
  FSK_PROFILES.forEach((p, i) => {
    const lo = p.baseHz;
    const hi = toneHz(p, p.groups * p.tonesPerGroup - 1);
    if (hi > maxHz) return;
    const x = plot + 4 + i * 22;
    g.fillStyle = COLORS[p.name] ?? '#fff';
    g.fillRect(x, yOf(hi), 6, Math.max(2, yOf(lo) - yOf(hi)));
    g.save();
    g.translate(x + 16, Math.max(yOf(lo) - 2, g.measureText(p.name).width + 2));
    g.rotate(-Math.PI / 2);
    g.fillText(p.name, 0, 0);
    g.restore();
  });
  const column = g.createImageData(2, h);
  const draw = () => {
    analyser.getFloatFrequencyData(bins);
    g.drawImage(canvas, 2, 0, plot - 2, h, 0, 0, plot - 2, h);
    for (let y = 0; y < h; y++) {
      const hz = ((h - y) / h) * maxHz;
      const db = bins[Math.min(bins.length - 1, Math.round((hz / (ctx.sampleRate / 2)) * bins.length))] ?? -200;
      const t = Math.max(0, Math.min(1, (db + 110) / 80));
      const r = Math.round(255 * Math.min(1, t * 1.8));
      const gr = Math.round(255 * Math.max(0, t * 1.8 - 0.6));
      const b = Math.round(120 * Math.sin(Math.PI * t));
      for (let x = 0; x < 2; x++) column.data.set([r, gr, b, 255], (y * 2 + x) * 4);
    }
    g.putImageData(column, plot - 2, 0);
    requestAnimationFrame(draw);
  };
  requestAnimationFrame(draw);
}
