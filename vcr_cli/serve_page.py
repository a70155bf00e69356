"""The page `vcr serve` shows at `/`: pick a video under the roots (or upload one), ask, see the answer.

Self-contained (no external resources). The answer is shown by `vcr view`'s own page (`viewer.render_page`,
rendered by the server's `/v1/view`) in a frame: the same timeline, boxes and evidence as `vcr view`.
"""

PAGE = r"""<!doctype html>
<html lang=en><head><meta charset=utf-8><meta name=viewport content='width=device-width,initial-scale=1'>
<title>vcr serve</title><link rel=icon href="data:,">
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#111;color:#eee}
header{padding:12px 20px;background:#1b1b1b;border-bottom:1px solid #333}
h1{font-size:18px;margin:0 0 4px} .meta{color:#aaa;font-size:13px;margin:0}
main{max-width:1100px;margin:0 auto;padding:16px 20px}
form{display:grid;grid-template-columns:140px 1fr;gap:8px 12px;align-items:center}
label{color:#bbb} input,select,textarea,button{font:inherit;background:#222;color:#eee;border:1px solid #444;
 border-radius:4px;padding:5px 8px} textarea{min-height:3.2em}
button{background:#263;border-color:#396;cursor:pointer;justify-self:start;padding:6px 18px}
button:disabled{opacity:.5;cursor:default} .hidden{display:none}
#status{min-height:1.4em;color:#aaa} #status.error{color:#e74c3c}
#view{width:100%;height:80vh;border:1px solid #333;border-radius:4px;background:#111;display:none}
</style></head><body>
<header><h1>vcr serve</h1><p class=meta id=meta>connecting...</p></header>
<main>
<form id=form>
  <label for=task>Task</label>
  <select id=task><option value=ground>ground: when does an event happen?</option>
   <option value=ask>ask: a question about the video</option><option value=track>track: an object</option></select>
  <label for=video>Video</label><select id=video></select>
  <label for=file>or upload</label><input id=file type=file accept="video/*">
  <label for=query id=query-label>Event</label><input id=query type=text autocomplete=off>
  <label for=options id=options-label class=hidden>Options</label>
  <textarea id=options class=hidden placeholder="optional: one answer option per line (multiple choice)"></textarea>
  <label for=token id=token-label class=hidden>Token</label><input id=token type=password class=hidden>
  <span></span><button id=run type=submit>Run</button>
</form>
<p id=status></p>
<iframe id=view title="the answer, as vcr view shows it"></iframe>
</main>
<script>
(function () {
  const $ = (id) => document.getElementById(id);
  const LABELS = {ground: 'Event', ask: 'Question', track: 'Object'};
  let needToken = false;
  function headers(extra) {
    const h = Object.assign({}, extra || {});
    const token = $('token').value || sessionStorage.getItem('vcr-token') || '';
    if (token) h['Authorization'] = 'Bearer ' + token;
    return h;
  }
  async function errorOf(reply) {
    const text = await reply.text();
    try { return JSON.parse(text).error || ('HTTP ' + reply.status + ': ' + text); }
    catch (err) { return 'HTTP ' + reply.status + ': ' + text.slice(0, 200); }
  }
  function say(text, isError) { $('status').textContent = text; $('status').className = isError ? 'error' : ''; }
  function showToken() {
    needToken = true;
    $('token').classList.remove('hidden'); $('token-label').classList.remove('hidden');
  }
  async function connect() {
    const health = await fetch('/v1/health', {headers: headers()});
    if (health.status === 401) { showToken(); say('this server needs its token'); return; }
    const h = await health.json();
    $('meta').textContent = 'model ' + h.model + ' · ' + h.quant + ' on ' + h.device + ' · queue ' + h.queue;
    const list = await (await fetch('/v1/videos', {headers: headers()})).json();
    const select = $('video');
    select.textContent = '';
    list.videos.forEach((v) => {
      const o = document.createElement('option'); o.value = v.path; o.textContent = v.name; select.appendChild(o);
    });
    if (!list.videos.length) {
      const o = document.createElement('option'); o.value = '';
      o.textContent = 'no videos under ' + list.roots.join(', ') + ' (upload one)'; select.appendChild(o);
    }
  }
  $('token').addEventListener('change', () => { sessionStorage.setItem('vcr-token', $('token').value); connect(); });
  $('task').addEventListener('change', () => {
    const task = $('task').value;
    $('query-label').textContent = LABELS[task];
    ['options', 'options-label'].forEach((id) => $(id).classList.toggle('hidden', task !== 'ask'));
  });
  function jobOf(task) {
    const text = $('query').value.trim();
    if (task === 'ground') return {query: text};
    if (task === 'track') return {object: text};
    const options = $('options').value.split('\n').map((s) => s.trim()).filter((s) => s);
    return options.length ? {question: text, options: options} : {question: text};
  }
  async function videoSource(file, path) {
    if (file) return URL.createObjectURL(file);
    const url = location.origin + '/v1/video?path=' + encodeURIComponent(path);
    if (!needToken) return url;
    return URL.createObjectURL(await (await fetch(url, {headers: headers()})).blob());
  }
  async function show(result, file, path) {
    const page = await fetch('/v1/view', {method: 'POST', headers: headers({'Content-Type': 'application/json'}),
      body: JSON.stringify({result: result, video_src: await videoSource(file, path)})});
    if (!page.ok) { say(await errorOf(page), true); return; }
    const frame = $('view');
    frame.srcdoc = await page.text();
    frame.style.display = 'block';
  }
  $('form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const task = $('task').value, file = $('file').files[0], path = $('video').value;
    if (!$('query').value.trim()) { say('type a ' + LABELS[task].toLowerCase() + ' first', true); return; }
    if (!file && !path) { say('pick a video or upload one', true); return; }
    const job = jobOf(task);
    let body, type = {};
    if (file) { body = new FormData(); body.append('job', JSON.stringify(job)); body.append('video', file); }
    else { body = JSON.stringify(Object.assign({video: path}, job)); type = {'Content-Type': 'application/json'}; }
    $('run').disabled = true; say('sending...');
    try {
      const reply = await fetch('/v1/' + task, {method: 'POST', body: body,
        headers: headers(Object.assign({Accept: 'application/x-ndjson'}, type))});
      if (!reply.ok) { say(await errorOf(reply), true); return; }
      const reader = reply.body.getReader(), decoder = new TextDecoder();
      let buffer = '', final = null;
      while (final === null) {
        const {value, done} = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, {stream: true});
        let cut;
        while ((cut = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, cut).trim(); buffer = buffer.slice(cut + 1);
          if (!line) continue;
          const ev = JSON.parse(line);
          if (ev.event === 'queued') say(ev.ahead ? 'queued: ' + ev.ahead + ' job(s) ahead' : 'starting...');
          else if (ev.event === 'started') say('running...');
          else if (ev.event === 'progress') say(ev.message || ('window ' + ev.done + '/' + ev.total));
          else if (ev.event === 'result' || ev.event === 'error') final = ev;
        }
      }
      if (final === null) say('the server closed the connection', true);
      else if (final.event === 'error') say(final.error, true);
      else { say('done'); await show(final.result, file, path); }
    } catch (err) { say(String(err), true); } finally { $('run').disabled = false; }
  });
  connect().catch((err) => say(String(err), true));
})();
</script></body></html>
"""
