/**
 * A small line chart on a <canvas> for the live stats of tkvm web: the last
 * `capacity` samples of one series, scaled to their maximum, with that
 * maximum written in the corner. Drawn with the 2D context only: no
 * library, no inline styles, nothing for the Content-Security-Policy to
 * allow.
 */
export class LineChart {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{ format: (value: number) => string, color?: string, capacity?: number }} options
   */
  constructor(canvas, options) {
    this.canvas = canvas;
    this.format = options.format;
    this.color = options.color ?? '#4fb3ff';
    this.capacity = options.capacity ?? 120;
    /** @type {(number | null)[]} */
    this.values = [];
  }

  /** Replaces the series (a VM's history when another VM is selected) and redraws. */
  setValues(values) {
    this.values = values.slice(-this.capacity);
    this.draw();
  }

  draw() {
    const canvas = this.canvas;
    const ratio = globalThis.devicePixelRatio || 1;
    const width = canvas.clientWidth || canvas.width;
    const height = canvas.clientHeight || canvas.height;
    if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
    if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
    const g = canvas.getContext('2d');
    if (!g) return;
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    g.strokeStyle = '#2a3440';
    g.lineWidth = 1;
    for (const y of [0.5, height / 2, height - 0.5]) {
      g.beginPath();
      g.moveTo(0, y);
      g.lineTo(width, y);
      g.stroke();
    }
    const known = this.values.filter((v) => v !== null && Number.isFinite(v));
    const max = Math.max(1, ...known);
    g.fillStyle = '#8a96a3';
    g.font = '11px system-ui, sans-serif';
    g.textBaseline = 'top';
    g.fillText(this.format(max), 4, 3);
    if (known.length < 2) return;
    const step = width / (this.capacity - 1);
    const x0 = width - (this.values.length - 1) * step;
    g.strokeStyle = this.color;
    g.lineWidth = 1.5;
    g.beginPath();
    let drawing = false;
    this.values.forEach((value, i) => {
      if (value === null || !Number.isFinite(value)) {
        drawing = false;
        return;
      }
      const x = x0 + i * step;
      const y = height - 2 - (value / max) * (height - 18);
      if (drawing) g.lineTo(x, y);
      else g.moveTo(x, y);
      drawing = true;
    });
    g.stroke();
  }
}

/** 1234 -> "1234", 12345 -> "12.3k", 1234567 -> "1.23M" (as tkvm top writes rates). */
export function formatRate(value) {
  if (value === null || !Number.isFinite(value)) return '-';
  if (value < 10_000) return String(Math.round(value));
  if (value < 1_000_000) return `${(value / 1000).toFixed(1)}k`;
  return `${(value / 1_000_000).toFixed(2)}M`;
}

/** Bytes in binary units: "512", "12K", "1.5M", "2.0G". */
export function formatBytes(value) {
  if (value === null || !Number.isFinite(value)) return '-';
  const units = ['', 'K', 'M', 'G', 'T'];
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? String(Math.round(value)) : `${value < 10 ? value.toFixed(1) : Math.round(value)}${units[unit]}`;
}
