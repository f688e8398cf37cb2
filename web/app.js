/**
 * The tkvm web page: polls api/vms each second for the running VMs (as
 * tkvm top samples them), lists them, and shows the selected one's console
 * in xterm.js over a WebSocket, its live charts and its pause, resume and
 * stop buttons. Every URL is relative to the page, which lives under the
 * server's token (/TOKEN/), so every request carries the token. VM names
 * and guest output are shown as text, never parsed as HTML.
 */
import { Terminal } from './xterm/xterm.mjs';
import { LineChart, formatBytes, formatRate } from './charts.js';

const POLL_MS = 1000;
const HISTORY = 120;
const base = location.pathname.endsWith('/') ? location.pathname : `${location.pathname}/`;

const $ = (id) => document.getElementById(id);
const statusLine = $('status');
const list = document.querySelector('#vm-list tbody');

const charts = {
  exits: new LineChart($('chart-exits'), { format: formatRate, capacity: HISTORY }),
  io: new LineChart($('chart-io'), { format: (v) => `${formatBytes(v)}/s`, color: '#7bd88f', capacity: HISTORY }),
  rss: new LineChart($('chart-rss'), { format: formatBytes, color: '#f0b45b', capacity: HISTORY }),
};

/** name -> { pid, exits: [], io: [], rss: [] }: the last HISTORY samples of each VM. */
const histories = new Map();
/** @type {string | null} */
let selected = null;
let latest = new Map();

const terminal = new Terminal({ cols: 100, rows: 30, convertEol: true, scrollback: 5000, fontFamily: 'monospace', fontSize: 14 });
terminal.open($('terminal'));
/** @type {WebSocket | null} */
let socket = null;
const encoder = new TextEncoder();
terminal.onData((data) => {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(encoder.encode(data));
});

function connectConsole(name) {
  if (socket) {
    socket.onclose = null;
    socket.close();
  }
  terminal.reset();
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${base}api/vms/${encodeURIComponent(name)}/console`;
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  ws.onmessage = (event) => {
    if (typeof event.data === 'string') {
      const notice = JSON.parse(event.data);
      if (notice.type === 'dropped') terminal.write(`\r\n\x1b[33m[tkvm web: ${notice.bytes} bytes of output dropped]\x1b[0m\r\n`);
      else if (notice.type === 'error') terminal.write(`\r\n\x1b[31m[tkvm web: ${notice.message}]\x1b[0m\r\n`);
      return;
    }
    terminal.write(new Uint8Array(event.data));
  };
  ws.onclose = () => {
    if (socket === ws) terminal.write('\r\n\x1b[2m[console closed]\x1b[0m\r\n');
  };
  socket = ws;
  terminal.focus();
}

function select(name) {
  if (selected === name) return;
  selected = name;
  $('vm-detail').hidden = false;
  $('vm-name').textContent = name;
  $('action-result').textContent = '';
  connectConsole(name);
  render();
}

function record(vm) {
  let history = histories.get(vm.name);
  if (!history || history.pid !== vm.pid) {
    history = { pid: vm.pid, exits: [], io: [], rss: [] };
    histories.set(vm.name, history);
  }
  history.exits.push(vm.exitsPerSecond);
  history.io.push(vm.ioBytesPerSecond);
  history.rss.push(vm.rssBytes);
  for (const series of [history.exits, history.io, history.rss]) if (series.length > HISTORY) series.shift();
}

function cell(row, text, number = false) {
  const td = document.createElement('td');
  td.textContent = text;
  if (number) td.className = 'number';
  row.appendChild(td);
}

function render() {
  const rows = [];
  for (const vm of latest.values()) {
    const row = document.createElement('tr');
    row.dataset.vm = vm.name;
    if (vm.name === selected) row.className = 'selected';
    cell(row, vm.name);
    cell(row, vm.state);
    cell(row, String(vm.cpus), true);
    cell(row, formatRate(vm.exitsPerSecond), true);
    cell(row, vm.ioBytesPerSecond === null ? '-' : `${formatBytes(vm.ioBytesPerSecond)}/s`, true);
    cell(row, formatBytes(vm.rssBytes), true);
    row.addEventListener('click', () => select(vm.name));
    rows.push(row);
  }
  list.replaceChildren(...rows);
  $('no-vms').hidden = latest.size > 0;
  if (selected === null) return;
  const vm = latest.get(selected);
  const state = $('vm-state');
  state.textContent = vm ? vm.state : 'gone';
  state.className = vm ? vm.state : '';
  const history = histories.get(selected);
  if (history) {
    charts.exits.setValues(history.exits);
    charts.io.setValues(history.io);
    charts.rss.setValues(history.rss);
  }
  $('value-exits').textContent = vm ? formatRate(vm.exitsPerSecond) : '';
  $('value-io').textContent = vm && vm.ioBytesPerSecond !== null ? `${formatBytes(vm.ioBytesPerSecond)}/s` : '';
  $('value-rss').textContent = vm ? formatBytes(vm.rssBytes) : '';
}

async function poll() {
  try {
    const response = await fetch(`${base}api/vms`, { cache: 'no-store' });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const { vms } = await response.json();
    latest = new Map(vms.map((vm) => [vm.name, vm]));
    for (const vm of vms) record(vm);
    statusLine.textContent = `${vms.length} VM${vms.length === 1 ? '' : 's'} · updated ${new Date().toLocaleTimeString()}`;
    if (selected === null && vms.length > 0) select(vms[0].name);
    else render();
  } catch (err) {
    statusLine.textContent = `cannot reach tkvm web: ${err.message}`;
  }
  setTimeout(poll, POLL_MS);
}

async function act(action) {
  if (selected === null) return;
  const name = selected;
  const result = $('action-result');
  result.textContent = `${action}…`;
  try {
    const response = await fetch(`${base}api/vms/${encodeURIComponent(name)}/${action}`, { method: 'POST' });
    const body = await response.json();
    result.textContent = response.ok ? `${action}: done` : `${action} failed: ${body.error?.message ?? response.status}`;
  } catch (err) {
    result.textContent = `${action} failed: ${err.message}`;
  }
}

for (const action of ['pause', 'resume', 'stop']) $(action).addEventListener('click', () => void act(action));
void poll();
