// The node's live status page (GET /): one self-contained HTML document (no external assets, so
// it works on a private network) that polls /api/status every second and draws the round, the
// phase, the peers and their scores, and SVG charts of train and held-out loss and of bytes per
// round.
export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>dtrain node</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px system-ui, sans-serif; margin: 1.5rem; color: #1b1f24; background: #fafafa; }
  h1 { font-size: 1.3rem; margin: 0 0 .3rem; }
  .mono { font-family: ui-monospace, monospace; font-size: 12px; }
  .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 1rem; }
  .card { background: #fff; border: 1px solid #d8dee4; border-radius: 6px; padding: .8rem 1rem; }
  .card h2 { font-size: 1rem; margin: 0 0 .5rem; }
  table { border-collapse: collapse; width: 100%; }
  td, th { text-align: left; padding: .2rem .4rem; border-bottom: 1px solid #eee; overflow-wrap: anywhere; }
  .bar { height: 8px; background: #eee; border-radius: 4px; overflow: hidden; }
  .bar > div { height: 100%; background: #2da44e; }
  .legend span { margin-right: 1rem; }
  #error { color: #cf222e; }
  svg text { font-size: 10px; fill: #57606a; }
</style>
</head>
<body>
<h1>dtrain node <span id="peer" class="mono"></span></h1>
<div class="mono">run <span id="run"></span> · backend <span id="backend"></span> · weights <span id="weights"></span></div>
<p>Round <b id="round">-</b>, phase <b id="phase">-</b>, inner step <span id="step">-</span> <span id="error"></span></p>
<div class="bar"><div id="progress" style="width:0%"></div></div>
<div class="grid" style="margin-top:1rem">
  <div class="card"><h2>Loss per round</h2>
    <div class="legend"><span style="color:#0969da">&#9632; train</span><span style="color:#bf3989">&#9632; held-out</span></div>
    <svg id="loss-chart" width="100%" height="220" viewBox="0 0 440 220" preserveAspectRatio="none"></svg></div>
  <div class="card"><h2>Bytes per round</h2>
    <div class="legend"><span style="color:#1a7f37">&#9632; sent</span><span style="color:#9a6700">&#9632; received</span></div>
    <svg id="bytes-chart" width="100%" height="220" viewBox="0 0 440 220" preserveAspectRatio="none"></svg></div>
  <div class="card"><h2>Peers (<span id="peer-count">0</span>)</h2>
    <table id="peers"><thead><tr><th>peer</th><th>address</th><th>gossip score</th><th>reputation</th><th>failed audits</th></tr></thead><tbody></tbody></table></div>
  <div class="card"><h2>Rejected messages</h2><table id="rejections"><tbody></tbody></table></div>
</div>
<script>
const $ = (id) => document.getElementById(id)
const NS = 'http://www.w3.org/2000/svg'
function el(name, attrs, parent) {
  const e = document.createElementNS(NS, name)
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v)
  parent.appendChild(e)
  return e
}
function chart(svg, series) {
  svg.replaceChildren()
  const W = 440, H = 220, L = 48, B = 20, T = 8, R = 8
  const points = series.flatMap((s) => s.values.map((v, i) => [i, v])).filter(([, v]) => Number.isFinite(v))
  if (points.length === 0) return
  const n = Math.max(...series.map((s) => s.values.length))
  const lo = Math.min(...points.map(([, v]) => v)), hi = Math.max(...points.map(([, v]) => v))
  const span = hi - lo || 1
  const x = (i) => L + (n <= 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (n - 1))
  const y = (v) => T + (H - T - B) * (1 - (v - lo) / span)
  el('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: '#ccc' }, svg)
  el('line', { x1: L, y1: T, x2: L, y2: H - B, stroke: '#ccc' }, svg)
  el('text', { x: 2, y: T + 8 }, svg).textContent = series[0].format(hi)
  el('text', { x: 2, y: H - B }, svg).textContent = series[0].format(lo)
  el('text', { x: W - R - 60, y: H - 4 }, svg).textContent = 'round ' + n
  for (const s of series) {
    const pts = s.values.map((v, i) => [x(i), y(v)]).filter(([, v]) => Number.isFinite(v))
    el('polyline', { points: pts.map((p) => p.join(',')).join(' '), fill: 'none', stroke: s.color, 'stroke-width': 2 }, svg)
    for (const [px, py] of pts) el('circle', { cx: px, cy: py, r: 3, fill: s.color, class: 'point' }, svg)
  }
}
const kb = (v) => v >= 1e6 ? (v / 1e6).toFixed(1) + ' MB' : (v / 1e3).toFixed(0) + ' kB'
const perRound = (h, key) => h.map((r, i) => r[key] - (i > 0 ? h[i - 1][key] : 0))
async function refresh() {
  try {
    const s = await (await fetch('/api/status', { cache: 'no-store' })).json()
    $('error').textContent = ''
    $('peer').textContent = s.peerId
    $('run').textContent = s.runId.slice(0, 16)
    $('backend').textContent = s.backend
    $('weights').textContent = s.weightsHash.slice(0, 16)
    $('round').textContent = s.round
    $('phase').textContent = s.phase
    $('step').textContent = s.innerStep + ' / ' + s.innerSteps
    $('progress').style.width = (100 * Math.min(1, s.innerStep / s.innerSteps)) + '%'
    const h = s.history
    chart($('loss-chart'), [
      { values: h.map((r) => r.trainLoss), color: '#0969da', format: (v) => v.toFixed(2) },
      { values: h.map((r) => r.evalLoss), color: '#bf3989', format: (v) => v.toFixed(2) },
    ])
    chart($('bytes-chart'), [
      { values: perRound(h, 'bytesSent'), color: '#1a7f37', format: kb },
      { values: perRound(h, 'bytesReceived'), color: '#9a6700', format: kb },
    ])
    $('peer-count').textContent = s.peers.length
    $('peers').tBodies[0].replaceChildren(...s.peers.map((p) => {
      const tr = document.createElement('tr')
      const address = (p.address ?? '').split('/p2p/')[0]
      for (const text of [p.peerId.slice(0, 16) + '…', address, p.gossipScore.toFixed(2), p.reputation === null ? '-' : p.reputation.toFixed(3), String(p.failedAudits ?? 0)]) {
        const td = document.createElement('td'); td.className = 'mono'; td.textContent = text; tr.appendChild(td)
      }
      return tr
    }))
    const rej = Object.entries(s.rejections)
    $('rejections').tBodies[0].replaceChildren(...(rej.length ? rej : [['none', '']]).map(([k, v]) => {
      const tr = document.createElement('tr')
      tr.innerHTML = '<td></td><td></td>'; tr.cells[0].textContent = k; tr.cells[1].textContent = v
      return tr
    }))
  } catch (err) {
    $('error').textContent = '(node unreachable: ' + err.message + ')'
  }
}
refresh()
setInterval(refresh, 1000)
</script>
</body>
</html>
`
