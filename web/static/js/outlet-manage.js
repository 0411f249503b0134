// The counter's side panels: the recent sales (with cancel) and the outlet's
// stock management (delivery, stock count, suspend and resume).

import { $, el, T, state, BACKGROUND, uuid, clock, show, reasonText, resText, focusId } from './outlet-core.js';
import { api, poll, renderOutlet } from './outlet.js';

// ---------- recent sales ----------

function cancelButton(s) {
  const b = el('button', { type: 'button', 'class': 'secondary small', text: T('recent.cancel') });
  let armed = 0;
  b.addEventListener('click', async () => {
    if (!armed) {
      b.textContent = T('recent.cancel.sure'); b.classList.add('danger');
      armed = setTimeout(() => { armed = 0; b.textContent = T('recent.cancel'); b.classList.remove('danger'); }, 4000);
      return;
    }
    clearTimeout(armed);
    b.disabled = true;
    try {
      const res = await api('POST', '/api/v2/outlet/sales/' + encodeURIComponent(s.id) + '/cancel');
      if (res.ok) { show('info', T('undo.done', { n: s.quantity }), res.body && res.body.outlet ? [T('stock.now', { n: res.body.outlet.stock })] : []); poll(); }
      else { b.disabled = false; show('bad', T('undo.failed'), [resText(res)]); }
    } catch (e) {
      b.disabled = false; show('bad', T('undo.failed'), [T('undo.offline')]);
    }
    focusId();
  });
  return b;
}

export async function refreshRecent() {
  if (!state.token || state.offline) return;
  let r;
  try { r = await api('GET', '/api/v2/outlet/sales?limit=15', undefined, BACKGROUND); } catch (e) { return; }
  if (!r.ok || !r.body) return;
  let rows = (r.body.sales || []).map((s) => {
    const st = s.cancelled ? T('recent.cancelled') : (s.conflict ? T('recent.conflict', { reason: reasonText(s.conflict) }) : T('recent.sold'));
    const td = el('td');
    if (!s.cancelled) td.appendChild(cancelButton(s));
    return el('tr', { 'class': s.cancelled ? 'cancelled' : '' },
      el('td', { text: clock(s.sold_at) }), el('td', { text: T('n.masks', { n: s.quantity }) }), el('td', { text: st }), td);
  });
  if (rows.length === 0) rows = [el('tr', null, el('td', { colspan: '4', 'class': 'hint', text: T('recent.none') }))];
  $('recent').replaceChildren(...rows);
}

// ---------- stock management ----------

let confirmCb = null;
function confirmThen(text, yes, cb) {
  $('confirm-text').textContent = text;
  $('confirm-yes').textContent = yes;
  confirmCb = cb;
  $('confirm').showModal();
  $('confirm-yes').focus();
}
// Yes runs the action; No or Esc only return to the ID field. Handled on
// the user's action itself, not on the dialog's close event: that event
// is queued, and may arrive after the next dialog has opened.
$('confirm-yes').addEventListener('click', (ev) => {
  ev.preventDefault();
  const cb = confirmCb; confirmCb = null;
  $('confirm').close();
  if (cb) cb(); else focusId();
});
function confirmNo() { confirmCb = null; $('confirm').close(); focusId(); }
$('confirm-no').addEventListener('click', (ev) => { ev.preventDefault(); confirmNo(); });
$('confirm').addEventListener('cancel', (ev) => { ev.preventDefault(); confirmNo(); });

function say(text) { $('manage-msg').textContent = text; }

// manage sends one stock form; a retry of the same value reuses its txn_id.
async function manage(form, path, field, value, done) {
  let p = state.pendingForm[form];
  if (!p || p.value !== value) p = state.pendingForm[form] = { txn: uuid(), value: value };
  const body = { txn_id: p.txn };
  body[field] = value;
  say(T('manage.working'));
  try {
    const r = await api('POST', path, body);
    if (r.ok) { delete state.pendingForm[form]; done(r.body); poll(); }
    else say('✖ ' + resText(r));
  } catch (e) {
    say('✖ ' + T('manage.offline'));
  }
  focusId();
}

$('delivery-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const n = parseInt($('delivery-qty').value, 10);
  if (!(n >= 1)) { say('✖ ' + T('manage.delivery.need')); $('delivery-qty').focus(); return; }
  manage('delivery', '/api/v2/outlet/deliveries', 'quantity', n, (b) => {
    say('✔ ' + T('manage.delivery.done', { n: n, stock: b && b.stock != null ? b.stock : '—' }));
    $('delivery-qty').value = '';
  });
});
$('count-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const n = parseInt($('count-qty').value, 10);
  if (!(n >= 0)) { say('✖ ' + T('manage.count.need')); $('count-qty').focus(); return; }
  confirmThen(T('manage.count.confirm', { n: n, now: state.outlet ? state.outlet.stock : '—' }), T('manage.count.button'), () => {
    manage('count', '/api/v2/outlet/stock', 'count', n, (b) => {
      say('✔ ' + T('manage.count.done', { n: b && b.stock != null ? b.stock : n }));
      $('count-qty').value = '';
    });
  });
});

async function toggle(path, msg) {
  try {
    const r = await api('POST', path);
    if (r.ok) {
      say('✔ ' + msg);
      if (r.body && typeof r.body.suspended === 'boolean') { state.outlet.suspended = r.body.suspended; renderOutlet(); }
      poll();
    } else say('✖ ' + resText(r));
  } catch (e) {
    say('✖ ' + T('manage.offline'));
  }
  focusId();
}
export function suspend() { confirmThen(T('manage.suspend.confirm'), T('manage.suspend'), () => toggle('/api/v2/outlet/suspend', T('manage.suspend.done'))); }
export function resume() { toggle('/api/v2/outlet/resume', T('manage.resume.done')); }
$('suspend').addEventListener('click', suspend);
$('resume').addEventListener('click', resume);
