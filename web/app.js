/*
 * app.js — fitd's dashboard: datasets, models, jobs with live loss curves, predictions,
 * runs compared on overlaid curves, sweeps ranked.
 *
 * The page talks only to the public /v1 API, exactly as any other client does.
 * Navigation is by hash (#/datasets, #/models/3, #/jobs/7, #/compare?jobs=3,7,
 * #/sweeps/2); each view renders
 * into <main> and registers what must stop when the view is left (timers, the
 * event stream, charts).
 *
 * DESIGN: a job's events are read with fetch() and a stream reader rather than
 * EventSource, because EventSource cannot send an Authorization header. The
 * parser follows the SSE rules (fields, comments, blank-line dispatch, id and
 * retry) and reconnects with Last-Event-ID. A fresh page opens the stream from
 * its start, and the server replays the job's whole event log, so a reload in
 * the middle of training redraws the complete curve. Chart data is keyed by
 * epoch and exposed as window.fitdCharts for tests and the curious.
 */
'use strict';

/* A model's name, or "model N" for one without (names are optional and unique). */
function modelLabel(m) {
	return m.name ?? `model ${m.id}`;
}

const KEY_STORAGE = 'fitd.apiKey';
const FINAL = new Set(['succeeded', 'failed', 'cancelled']);
const ACTIVATIONS = ['relu', 'linear', 'sigmoid', 'softmax', 'tanh', 'leaky_relu', 'elu', 'gelu', 'softplus', 'swish'];
const LOSSES = ['sparse_categorical_crossentropy', 'categorical_crossentropy', 'binary_crossentropy',
	'mean_squared_error', 'mean_absolute_error', 'huber'];
const CLASSIFICATION_LOSSES = new Set(LOSSES.slice(0, 3));
/* Each optimizer's hyper-parameters with Keras's defaults (docs/API.md). */
const OPTIMIZERS = {
	adam: { learning_rate: 0.001, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7 },
	sgd: { learning_rate: 0.01, momentum: 0, nesterov: false },
	rmsprop: { learning_rate: 0.001, rho: 0.9, momentum: 0, epsilon: 1e-7 },
	adagrad: { learning_rate: 0.001, initial_accumulator_value: 0.1, epsilon: 1e-7 },
};
/* The canonical tutorial: Dense(25, relu) → Dense(15, relu) → Dense(4, softmax). */
const TUTORIAL = {
	name: 'tutorial',
	layers: [
		{ type: 'dense', units: 25, activation: 'relu' },
		{ type: 'dense', units: 15, activation: 'relu' },
		{ type: 'dense', units: 4, activation: 'softmax' },
	],
	loss: 'sparse_categorical_crossentropy',
	optimizer: { type: 'adam', learning_rate: 0.001 },
	metrics: ['accuracy'],
};

/* What the current view must undo when the page moves on. */
let cleanups = [];
window.fitdCharts = null;

/* ---- small DOM helpers ---------------------------------------------------------------- */

/* h('tag.class#id', {attr: value, onclick: fn}, child, ...) — builds an element; text is never parsed as HTML. */
function h(spec, attrs, ...children) {
	const [, tag, rest] = /^([a-z0-9]+)(.*)$/i.exec(spec);
	const el = document.createElement(tag);
	for (const m of rest.matchAll(/([.#])([\w-]+)/g)) {
		if (m[1] === '.')
			el.classList.add(m[2]);
		else
			el.id = m[2];
	}
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === null || v === undefined || v === false)
			continue;
		if (k.startsWith('on'))
			el.addEventListener(k.slice(2), v);
		else if (k === 'dataset')
			Object.assign(el.dataset, v);
		else if (k === 'class')
			el.classList.add(...String(v).split(' ').filter(Boolean));
		else if (k === 'checked')
			el.defaultChecked = el.checked = !!v; /* survives form.reset() */
		else if (k === 'value')
			el.setAttribute('value', String(v)); /* the default value: survives form.reset() */
		else if (k in el && typeof v !== 'string')
			el[k] = v;
		else
			el.setAttribute(k, v === true ? '' : String(v));
	}
	for (const c of children.flat()) {
		if (c === null || c === undefined || c === false)
			continue;
		el.append(c instanceof Node ? c : String(c));
	}
	return el;
}

let uid = 0;
const nextId = (prefix) => `${prefix}-${++uid}`;

/* A labelled form control in a .field wrapper. control is an element; label is text. */
function field(label, control, hint) {
	if (!control.id)
		control.id = nextId('f');
	const wrap = h('div.field', null, h('label', { for: control.id }, label), control);
	if (hint) {
		const hintId = nextId('hint');
		wrap.append(h('small.hint', { id: hintId }, hint));
		control.setAttribute('aria-describedby', hintId);
	}
	return wrap;
}

function checkField(label, control) {
	if (!control.id)
		control.id = nextId('f');
	return h('div.field.check', null, control, h('label', { for: control.id }, label));
}

function select(options, value, attrs) {
	const el = h('select', attrs);
	for (const o of options) {
		const [v, text] = Array.isArray(o) ? o : [o, o];
		el.append(h('option', { value: v }, text));
	}
	if (value !== undefined)
		el.value = String(value);
	return el;
}

function fmt(x, digits = 4) {
	if (x === null || x === undefined || Number.isNaN(x))
		return '—';
	if (typeof x !== 'number')
		return String(x);
	if (Number.isInteger(x))
		return String(x);
	return Math.abs(x) >= 1e-3 && Math.abs(x) < 1e5 ? x.toFixed(digits) : x.toPrecision(digits);
}

function when(t) {
	if (!t)
		return '—';
	const d = new Date(t);
	return Number.isNaN(d.getTime()) ? t : d.toLocaleString();
}

function sleep(ms, signal) {
	return new Promise((resolve) => {
		const timer = setTimeout(resolve, ms);
		signal?.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
	});
}

/* ---- the API client -------------------------------------------------------------------- */

class ApiError extends Error {
	constructor(status, error) {
		super(error.message || `HTTP ${status}`);
		this.status = status;
		this.code = error.code || 'error';
		this.field = error.field || null;
	}
}

function apiKey() {
	return localStorage.getItem(KEY_STORAGE) || '';
}

function authHeaders(extra) {
	const headers = Object.assign({}, extra);
	const key = apiKey();
	if (key)
		headers.Authorization = `Bearer ${key}`;
	return headers;
}

async function errorOf(res) {
	let body = null;
	try {
		body = await res.json();
	} catch {
		/* not JSON: fall through */
	}
	const err = body && body.error ? body.error : { code: 'http_' + res.status, message: `${res.status} ${res.statusText}` };
	return new ApiError(res.status, err);
}

/* Calls the API. body: a plain object (sent as JSON), or a Blob/File sent with contentType. */
async function api(method, path, body, contentType) {
	const init = { method, headers: authHeaders({ Accept: 'application/json' }) };
	if (body instanceof Blob) {
		init.body = body;
		init.headers['Content-Type'] = contentType || 'application/octet-stream';
	} else if (body !== undefined) {
		init.body = JSON.stringify(body);
		init.headers['Content-Type'] = 'application/json';
	}
	let res;
	try {
		res = await fetch(path, init);
	} catch (e) {
		throw new ApiError(0, { code: 'network', message: `cannot reach the server (${e.message})` });
	}
	if (!res.ok)
		throw await errorOf(res);
	return res.status === 204 ? null : res.json();
}

/*
 * Reads a Server-Sent Events stream with fetch(), so that the Authorization
 * header goes along. on(type, data, id) is called per event; the loop
 * reconnects with Last-Event-ID until done() says the stream is complete, an
 * error the client caused (4xx) arrives, or signal aborts.
 */
async function readEvents(path, { on, done, onError, signal }) {
	let lastId = '';
	let retry = 2000;

	while (!signal.aborted) {
		try {
			const headers = authHeaders({ Accept: 'text/event-stream' });
			if (lastId)
				headers['Last-Event-ID'] = lastId;
			const res = await fetch(path, { headers, signal, cache: 'no-store' });
			if (!res.ok) {
				const err = await errorOf(res);
				if (res.status >= 400 && res.status < 500) {
					onError(err);
					return;
				}
				throw err;
			}
			const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
			let buf = '';
			let type = '', data = [], id = null;
			for (;;) {
				const { value, done: end } = await reader.read();
				if (end)
					break;
				buf += value;
				/* a trailing \r may be the first half of a \r\n: keep it for the next chunk */
				const held = buf.endsWith('\r') ? '\r' : '';
				const lines = (held ? buf.slice(0, -1) : buf).split(/\r\n|\n|\r/);
				buf = lines.pop() + held;
				for (const line of lines) {
					if (line === '') {
						if (id !== null)
							lastId = id;
						if (data.length)
							on(type || 'message', data.join('\n'), lastId);
						type = '';
						data = [];
						id = null;
						continue;
					}
					if (line.startsWith(':'))
						continue; /* a comment: heartbeats */
					const colon = line.indexOf(':');
					const name = colon < 0 ? line : line.slice(0, colon);
					let val = colon < 0 ? '' : line.slice(colon + 1);
					if (val.startsWith(' '))
						val = val.slice(1);
					if (name === 'event')
						type = val;
					else if (name === 'data')
						data.push(val);
					else if (name === 'id' && !val.includes('\0'))
						id = val;
					else if (name === 'retry' && /^\d+$/.test(val))
						retry = Number(val);
				}
			}
			if (done())
				return;
		} catch (e) {
			if (signal.aborted)
				return;
			/* network trouble or a 5xx: try again after the retry delay */
		}
		await sleep(retry, signal);
	}
}

/* ---- messages and field errors -------------------------------------------------------- */

function banner(message) {
	const el = document.getElementById('banner');
	document.getElementById('banner-text').textContent = message;
	el.hidden = false;
}

function hideBanner() {
	document.getElementById('banner').hidden = true;
}

function clearErrors(form) {
	for (const e of form.querySelectorAll('.field-error'))
		e.remove();
	for (const e of form.querySelectorAll('[aria-invalid]')) {
		e.removeAttribute('aria-invalid');
		const described = (e.getAttribute('aria-describedby') || '').split(' ').filter((x) => !x.startsWith('err-'));
		if (described.length)
			e.setAttribute('aria-describedby', described.join(' '));
		else
			e.removeAttribute('aria-describedby');
	}
}

/* The control whose data-field is err.field, or the nearest enclosing path ("layers[1]" for "layers[1].alpha"). */
function controlFor(form, path) {
	if (!path)
		return null;
	let best = null, bestLen = -1;
	for (const el of form.querySelectorAll('[data-field]')) {
		const f = el.dataset.field;
		const prefix = path === f || (path.startsWith(f) && (path[f.length] === '.' || path[f.length] === '['));
		if (prefix && f.length > bestLen) {
			best = el;
			bestLen = f.length;
		}
	}
	return best;
}

function markField(control, message, focus) {
	const id = nextId('err');
	const msg = h('p.field-error', { id, dataset: { errorFor: control.dataset.field } }, message);
	const host = control.closest('.field');
	if (host)
		host.append(msg);
	else
		control.after(msg); /* a group such as the layer list */
	control.setAttribute('aria-invalid', 'true');
	const described = control.getAttribute('aria-describedby');
	control.setAttribute('aria-describedby', described ? `${described} ${id}` : id);
	if (focus)
		control.focus();
}

/*
 * Shows an API error next to the control that caused it: the one named by
 * error.field, else the form's fallback control (data-fallback), else the
 * banner. A missing or wrong API key always lands on the key field. Errors of
 * a form's submission take the focus; those of background loads do not.
 */
function showError(form, err) {
	if (err.code === 'unauthorized') {
		const keyForm = document.getElementById('key-form');
		const keyInput = keyForm.querySelector('#api-key');
		if (keyForm.querySelector('.field-error')?.textContent !== err.message) {
			clearErrors(keyForm);
			markField(keyInput, err.message, !!form);
		}
		banner(`${err.message} — enter the server's API key at the top of the page.`);
		return;
	}
	let control = form ? controlFor(form, err.field) : null;
	let message = err.message;
	if (!control && form && form.dataset.fallback) {
		control = form.querySelector(`[data-field="${form.dataset.fallback}"]`);
		if (control && err.field && !message.includes(err.field))
			message = `${err.field}: ${message}`;
	}
	if (control)
		markField(control, message, true);
	else
		banner(err.field && !message.includes(err.field) ? `${err.field}: ${message}` : message);
}

/* Runs a form's action with its errors cleared first and shown after; the submit button is disabled meanwhile. */
function onSubmit(form, action) {
	form.noValidate = true; /* the API's validation is the one shown */
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		clearErrors(form);
		hideBanner();
		const buttons = form.querySelectorAll('button[type=submit]');
		buttons.forEach((b) => { b.disabled = true; });
		try {
			await action(ev.submitter);
		} catch (err) {
			if (err instanceof ApiError)
				showError(form, err);
			else
				throw err;
		} finally {
			buttons.forEach((b) => { b.disabled = false; });
		}
	});
}

/* Loads data for a view; an error goes to the banner (or the key field). */
async function load(fn) {
	try {
		return await fn();
	} catch (err) {
		if (err instanceof ApiError) {
			showError(null, err);
			return null;
		}
		throw err;
	}
}

/* ---- router ---------------------------------------------------------------------------- */

const routes = [
	[/^#\/datasets$/, viewDatasets],
	[/^#\/datasets\/(\d+)$/, viewDataset],
	[/^#\/models$/, viewModels],
	[/^#\/models\/(\d+)$/, viewModel],
	[/^#\/jobs$/, viewJobs],
	[/^#\/jobs\/(\d+)$/, viewJob],
	[/^#\/compare$/, viewCompare],
	[/^#\/sweeps$/, viewSweeps],
	[/^#\/sweeps\/(\d+)$/, viewSweep],
];

function route() {
	const [path, query] = (location.hash || '').split('?');
	for (const fn of cleanups.splice(0))
		fn();
	window.fitdCharts = null;
	hideBanner();
	const view = document.getElementById('view');
	for (const [re, fn] of routes) {
		const m = re.exec(path);
		if (m) {
			view.replaceChildren();
			const section = path.split('/')[1];
			for (const a of document.querySelectorAll('[data-nav]')) {
				if (a.dataset.nav === section)
					a.setAttribute('aria-current', 'page');
				else
					a.removeAttribute('aria-current');
			}
			fn(view, ...m.slice(1), new URLSearchParams(query || ''));
			return;
		}
	}
	location.replace('#/datasets');
}

/* Calls fn now and every ms milliseconds while the view lasts. */
function every(ms, fn) {
	let stopped = false, timer = null;
	const tick = async () => {
		if (stopped)
			return;
		await fn();
		if (!stopped)
			timer = setTimeout(tick, ms);
	};
	cleanups.push(() => { stopped = true; clearTimeout(timer); });
	tick();
}

function table(headers, caption) {
	const t = h('table', null, caption ? h('caption', null, caption) : null,
		h('thead', null, h('tr', null, headers.map((x) => h('th', { scope: 'col' }, x)))), h('tbody'));
	return { wrap: h('div.table-wrap', null, t), body: t.tBodies[0] };
}

/* Rebuilds rows, keeping keyboard focus on the element with the same data-key. */
function refill(tbody, rows, empty) {
	const key = document.activeElement && tbody.contains(document.activeElement) ? document.activeElement.dataset.key : null;
	const cols = tbody.parentElement.tHead.rows[0].cells.length;
	tbody.replaceChildren(...(rows.length ? rows : [h('tr', null, h('td.empty', { colSpan: cols }, empty))]));
	if (key)
		tbody.querySelector(`[data-key="${CSS.escape(key)}"]`)?.focus();
}

function statusBadge(status) {
	return h(`span.badge.s-${status}`, { dataset: { status } }, status);
}

/* ---- datasets ---------------------------------------------------------------------------- */

function viewDatasets(view) {
	const file = h('input', { type: 'file', accept: '.csv,text/csv', dataset: { field: 'file' } });
	const name = h('input', { type: 'text', name: 'name', dataset: { field: 'name' }, autocomplete: 'off' });
	const header = h('input', { type: 'checkbox', name: 'header', checked: true, dataset: { field: 'header' } });
	const label = select([['', 'last column']], '', { name: 'label', dataset: { field: 'label' } });
	const delimiter = select([[',', 'comma ,'], [';', 'semicolon ;'], ['tab', 'tab'], ['|', 'bar |'], [':', 'colon :']],
		',', { name: 'delimiter', dataset: { field: 'delimiter' } });
	const task = select([['', 'guess'], ['classification', 'classification'], ['regression', 'regression']], '',
		{ name: 'task', dataset: { field: 'task' } });
	const status = h('p.status', { role: 'status' });
	const form = h('form#upload-form.card', { dataset: { fallback: 'file' } },
		h('h2', null, 'Upload a CSV dataset'),
		h('div.grid', null,
			field('CSV file', file, 'numbers, text (categories) and missing cells (empty, NA, N/A, null, ?); one row per sample'),
			field('Name', name),
			checkField('First row is a header', header),
			field('Delimiter', delimiter),
			field('Label column', label, 'the column holding y; the rest are features'),
			field('Task', task, 'overrides the guess from the label\'s values')),
		h('div.actions', null, h('button.primary', { type: 'submit' }, 'Upload')),
		status);

	/* Reads the first line of the chosen file to offer its columns as the label choice. */
	let firstLine = null;
	async function fillColumns() {
		const f = file.files[0];
		const previous = label.value;
		label.replaceChildren(h('option', { value: '' }, 'last column'));
		if (!f)
			return;
		if (firstLine === null) {
			const text = await f.slice(0, 65536).text();
			firstLine = text.split(/\r?\n/, 1)[0];
		}
		const sep = delimiter.value === 'tab' ? '\t' : delimiter.value;
		const cells = firstLine.split(sep).map((c) => c.trim().replace(/^"(.*)"$/, '$1'));
		/* By name when the first row is a header (the server matches it), else by index. */
		cells.forEach((c, i) => {
			const text = header.checked ? `${c} (column ${i})` : `column ${i} (${c})`;
			label.append(h('option', { value: header.checked ? c : String(i) }, text));
		});
		const values = [...label.options].map((o) => o.value);
		label.value = values.includes(previous) && previous !== '' ? previous : values[values.length - 1];
	}
	file.addEventListener('change', () => {
		firstLine = null;
		const f = file.files[0];
		if (f && !name.value)
			name.value = f.name.replace(/\.[^.]*$/, '');
		fillColumns();
	});
	header.addEventListener('change', fillColumns);
	delimiter.addEventListener('change', fillColumns);

	onSubmit(form, async () => {
		const f = file.files[0];
		if (!f)
			throw new ApiError(0, { code: 'validation_failed', message: 'choose a CSV file', field: 'file' });
		const q = new URLSearchParams({ header: header.checked ? 'true' : 'false' });
		if (name.value)
			q.set('name', name.value);
		if (label.value !== '')
			q.set('label', label.value);
		if (delimiter.value !== ',')
			q.set('delimiter', delimiter.value);
		if (task.value)
			q.set('task', task.value);
		status.textContent = `Uploading ${f.name} (${(f.size / 1024).toFixed(0)} KiB)…`;
		try {
			const ds = await api('POST', `/v1/datasets?${q}`, f, 'text/csv');
			/* What the server detected: the kinds of the columns, the classes; the dataset's page has the rest. */
			const kinds = (ds.columns || []).filter((c) => c.role === 'feature').reduce((n, c) => {
				n[c.kind] = (n[c.kind] || 0) + 1;
				return n;
			}, {});
			status.replaceChildren(`Uploaded “${ds.name}”: ${ds.n_samples} samples, ${ds.n_features} features` +
				(Object.keys(kinds).length ? ` (${Object.entries(kinds).map(([k, n]) => `${n} ${k}`).join(', ')})` : '') +
				(ds.n_missing ? `, ${ds.n_missing} missing cells` : '') +
				(ds.class_names ? `, classes ${ds.class_names.join(', ')}.` : ds.n_classes ? `, ${ds.n_classes} classes.` : '.') + ' ',
				h('a', { href: `#/datasets/${ds.id}`, dataset: { action: 'open-dataset' } }, 'Columns and rows'));
			form.reset();
			firstLine = null;
			fillColumns();
			refresh();
		} catch (err) {
			status.textContent = '';
			throw err;
		}
	});

	const list = table(['Id', 'Name', 'Samples', 'Features', 'Labels', 'Classes', 'Created', ''], 'Datasets');
	view.append(h('h1.page', null, 'Datasets'), form, h('section.card', null, list.wrap));

	async function refresh() {
		const page = await load(() => api('GET', '/v1/datasets?limit=500'));
		if (!page)
			return;
		refill(list.body, page.items.map(row), 'No datasets yet: upload a CSV above.');
	}
	function row(d) {
		const del = h('button.danger', {
			type: 'button', dataset: { key: `del-${d.id}`, action: 'delete' }, 'aria-label': `Delete dataset ${d.name}`,
		}, 'Delete');
		del.addEventListener('click', async () => {
			if (!confirm(`Delete dataset “${d.name}”?`))
				return;
			hideBanner();
			if (await load(() => api('DELETE', `/v1/datasets/${d.id}`).then(() => true)))
				refresh();
		});
		return h('tr', { dataset: { id: d.id } },
			h('td', null, d.id), h('td', null, h('a', { href: `#/datasets/${d.id}` }, d.name)), h('td.num', null, d.n_samples), h('td.num', null, d.n_features),
			h('td', null, d.y_kind), h('td.num', null, d.n_classes ?? '—'), h('td', null, when(d.created_at)),
			h('td', null, del));
	}
	refresh();
}

/* A dataset: its columns (kinds and statistics as the server found them) and a preview of its rows. */
async function viewDataset(view, id) {
	const d = await load(() => api('GET', `/v1/datasets/${id}`));
	if (!d)
		return;
	const num = (v) => (v === null || v === undefined ? '—' : Number(v.toPrecision(6)));
	const facts = [`${d.n_samples} samples`, `${d.n_features} features`, `targets: ${d.y_kind}`];
	if (d.n_classes)
		facts.push(`${d.n_classes} classes`);
	if (d.n_categorical)
		facts.push(`${d.n_categorical} categorical`);
	if (d.n_missing)
		facts.push(`${d.n_missing} missing cells`);
	view.append(h('h1.page', null, h('a', { href: '#/datasets' }, 'Datasets'), ' / ', d.name),
		h('p#dataset-facts', null, facts.join(' · ')));
	if (d.class_names)
		view.append(h('p#class-names', null, 'Classes: ', d.class_names.join(', ')));
	if (d.columns) {
		const cols = table(['Column', 'Role', 'Kind', 'Count', 'Missing', 'Min', 'Max', 'Mean', 'Std', 'Categories'],
			'Columns');
		cols.body.parentElement.id = 'columns-table';
		refill(cols.body, d.columns.map((c) => h('tr', { dataset: { column: c.name, kind: c.kind } },
			h('th', { scope: 'row' }, c.name), h('td', null, c.role), h('td', null, c.kind),
			h('td.num', null, c.count), h('td.num', null, c.missing),
			h('td.num', null, num(c.min)), h('td.num', null, num(c.max)), h('td.num', null, num(c.mean)),
			h('td.num', null, num(c.std)),
			h('td', null, c.categories ? c.categories.slice(0, 8).map((k) => `${k.value} (${k.count})`).join(', ') +
				(c.categories.length > 8 ? `, … ${c.categories.length - 8} more` : '') : ''))), 'No columns.');
		view.append(h('section.card', null, cols.wrap));
	}
	const limit = 20;
	let offset = 0;
	const prev = h('button', { type: 'button', dataset: { action: 'prev' } }, 'Previous');
	const next = h('button', { type: 'button', dataset: { action: 'next' } }, 'Next');
	const where = h('span.status', { role: 'status' });
	const holder = h('div.table-wrap#rows-preview');
	view.append(h('section.card', null, h('h2', null, 'Rows'), holder, h('div.actions', null, prev, next, where)));
	async function show() {
		const page = await load(() => api('GET', `/v1/datasets/${id}/rows?offset=${offset}&limit=${limit}`));
		if (!page)
			return;
		const t = table(page.columns, `Rows ${offset + 1}–${offset + page.rows.length} of ${page.total}`);
		refill(t.body, page.rows.map((r) => h('tr', null, page.columns.map((c) => {
			const v = r[c];
			return h(typeof v === 'number' ? 'td.num' : 'td', null,
				v === null ? '—' : Array.isArray(v) ? JSON.stringify(v) : String(v));
		}))), 'No rows.');
		holder.replaceChildren(t.wrap);
		prev.disabled = offset === 0;
		next.disabled = offset + limit >= page.total;
		where.textContent = `${offset + 1}–${offset + page.rows.length} of ${page.total}`;
	}
	prev.addEventListener('click', () => { offset = Math.max(0, offset - limit); show(); });
	next.addEventListener('click', () => { offset += limit; show(); });
	show();
}

/* ---- models ---------------------------------------------------------------------------------- */

function numberOrString(v) {
	const t = v.trim();
	if (t === '')
		return undefined;
	const n = Number(t);
	return Number.isNaN(n) ? t : n; /* a non-number goes to the API as is, which names the field */
}

function layerRow(layer, index, rows) {
	const type = select(['dense', 'dropout'], layer.type || 'dense', { dataset: { field: `layers[${index}].type` } });
	const units = h('input', { type: 'number', min: 1, step: 1, value: layer.units ?? '', dataset: { field: `layers[${index}].units` } });
	const act = select(ACTIVATIONS, layer.activation || 'relu', { dataset: { field: `layers[${index}].activation` } });
	const rate = h('input', { type: 'number', min: 0, max: 0.99, step: 0.05, value: layer.rate ?? 0.2, dataset: { field: `layers[${index}].rate` } });
	const n = index + 1;
	const denseFields = [field('Units', units), field('Activation', act)];
	const dropFields = [field('Rate', rate)];
	const remove = h('button.small', { type: 'button', 'aria-label': `Remove layer ${n}` }, 'Remove');
	const row = h('fieldset.layer', { dataset: { layer: index } }, h('legend', null, `Layer ${n}`),
		field('Type', type), ...denseFields, ...dropFields, remove);
	const sync = () => {
		const dense = type.value === 'dense';
		denseFields.forEach((f) => { f.hidden = !dense; });
		dropFields.forEach((f) => { f.hidden = dense; });
	};
	type.addEventListener('change', sync);
	sync();
	row.read = () => (type.value === 'dense'
		? { type: 'dense', units: numberOrString(units.value), activation: act.value }
		: { type: 'dropout', rate: numberOrString(rate.value) });
	remove.addEventListener('click', () => rows.remove(index));
	return row;
}

function viewModels(view) {
	const name = h('input', { type: 'text', value: TUTORIAL.name, dataset: { field: 'name' }, autocomplete: 'off' });
	const inputDim = h('input', { type: 'number', min: 1, step: 1, dataset: { field: 'input_dim' } });
	const shapeFrom = select([['', '—']], '', {});
	const loss = select(LOSSES, TUTORIAL.loss, { dataset: { field: 'loss' } });
	const fromLogits = h('input', { type: 'checkbox', dataset: { field: 'loss.from_logits' } });
	const optType = select(Object.keys(OPTIMIZERS), 'adam', { dataset: { field: 'optimizer.type' } });
	const optFields = h('div.grid.opt');
	const accuracy = h('input', { type: 'checkbox', checked: true, dataset: { field: 'metrics' } });
	const seed = h('input', { type: 'number', step: 1, placeholder: 'random', dataset: { field: 'seed' } });
	const layersBox = h('div.layers', { dataset: { field: 'layers' } });
	const datasets = new Map();

	/* The layer rows, rebuilt whole on every change so that their field paths stay in step. */
	const rows = {
		list: [],
		set(layers) {
			this.list = layers.map((l) => Object.assign({}, l));
			this.render();
		},
		read() {
			return [...layersBox.querySelectorAll('fieldset.layer')].map((r) => r.read());
		},
		render() {
			layersBox.replaceChildren(...this.list.map((l, i) => layerRow(l, i, this)));
		},
		remove(i) {
			this.list = this.read();
			this.list.splice(i, 1);
			this.render();
		},
		add() {
			this.list = this.read();
			this.list.splice(Math.max(this.list.length - 1, 0), 0, { type: 'dense', units: 16, activation: 'relu' });
			this.render();
			layersBox.querySelectorAll('fieldset.layer')[Math.max(this.list.length - 2, 0)]?.querySelector('select')?.focus();
		},
	};

	const optInputs = {};
	function renderOptimizer(values) {
		const defaults = OPTIMIZERS[optType.value];
		optFields.replaceChildren();
		for (const k of Object.keys(optInputs))
			delete optInputs[k];
		for (const [k, def] of Object.entries(defaults)) {
			const v = values && k in values ? values[k] : def;
			let el;
			if (typeof def === 'boolean') {
				el = h('input', { type: 'checkbox', checked: !!v, dataset: { field: `optimizer.${k}` } });
				optFields.append(checkField(k, el));
			} else {
				el = h('input', { type: 'text', inputmode: 'decimal', value: String(v), dataset: { field: `optimizer.${k}` } });
				optFields.append(field(k, el));
			}
			optInputs[k] = el;
		}
	}
	optType.addEventListener('change', () => renderOptimizer());

	/* Input width and output units from a dataset, so the model fits it. */
	function applyShape() {
		const d = datasets.get(shapeFrom.value);
		if (!d)
			return;
		inputDim.value = d.n_features;
		const layers = rows.read();
		const last = layers[layers.length - 1];
		if (last && last.type === 'dense') {
			if (d.y_kind === 'class' && d.n_classes)
				last.units = d.n_classes;
			else if (d.y_shape && d.y_shape.length > 1)
				last.units = d.y_shape[1];
			rows.set(layers);
		}
	}
	shapeFrom.addEventListener('change', applyShape);

	function tutorial() {
		name.value = TUTORIAL.name;
		rows.set(TUTORIAL.layers);
		loss.value = TUTORIAL.loss;
		fromLogits.checked = false;
		optType.value = TUTORIAL.optimizer.type;
		renderOptimizer(TUTORIAL.optimizer);
		accuracy.checked = true;
		seed.value = '';
		applyShape();
	}

	/* The API body the form describes. */
	function body() {
		const b = { name: name.value, input_dim: numberOrString(inputDim.value), layers: rows.read() };
		b.loss = fromLogits.checked ? { type: loss.value, from_logits: true } : loss.value;
		b.optimizer = { type: optType.value };
		for (const [k, el] of Object.entries(optInputs))
			b.optimizer[k] = el.type === 'checkbox' ? el.checked : numberOrString(el.value);
		if (accuracy.checked)
			b.metrics = ['accuracy'];
		const s = numberOrString(seed.value);
		if (s !== undefined)
			b.seed = s;
		return b;
	}

	const form = h('form#model-form.card', null,
		h('div.heading', null, h('h2', null, 'New model'),
			h('button#preset-tutorial', { type: 'button', onclick: tutorial }, 'Tutorial preset: 25 relu → 15 relu → 4 softmax')),
		h('div.grid', null,
			field('Name', name),
			field('Input features (input_dim)', inputDim),
			field('Shape from dataset', shapeFrom, 'sets input_dim and the output units')),
		h('h3', null, 'Layers'),
		layersBox,
		h('div.actions', null, h('button', { type: 'button', onclick: () => rows.add() }, 'Add layer')),
		h('h3', null, 'Training'),
		h('div.grid', null,
			h('div.wide', null, field('Loss', loss)),
			checkField('Loss takes logits (from_logits)', fromLogits),
			checkField('Track accuracy', accuracy),
			field('Seed', seed, 'weights are initialised from it')),
		h('fieldset.optimizer', null, h('legend', null, 'Optimizer'),
			h('div.grid', null, field('Type', optType)), optFields),
		h('div.actions', null, h('button.primary', { type: 'submit' }, 'Create model')));

	onSubmit(form, async () => {
		const m = await api('POST', '/v1/models', body());
		banner(`Created model ${m.id} “${modelLabel(m)}” with ${m.n_params} parameters.`);
		refresh();
	});

	/* The JSON editor: any API body, keras imports included. */
	const json = h('textarea', { rows: 14, spellcheck: false, dataset: { field: 'json' }, class: 'code' });
	const jsonForm = h('form#model-json-form', { dataset: { fallback: 'json' } },
		field('Request body for POST /v1/models', json),
		h('div.actions', null,
			h('button', { type: 'button', onclick: () => { json.value = JSON.stringify(body(), null, 2); } }, 'Copy from form'),
			h('button.primary', { type: 'submit' }, 'Create from JSON')));
	onSubmit(jsonForm, async () => {
		let b;
		try {
			b = JSON.parse(json.value);
		} catch (e) {
			throw new ApiError(0, { code: 'invalid_json', message: `not JSON: ${e.message}`, field: 'json' });
		}
		const m = await api('POST', '/v1/models', b);
		banner(`Created model ${m.id} “${modelLabel(m)}” with ${m.n_params} parameters.`);
		refresh();
	});

	const list = table(['Id', 'Name', 'Status', 'Parameters', 'Layers', 'Loss', 'Optimizer', 'Updated', ''], 'Models');
	const jsonBox = h('details#model-json.card', null,
		h('summary', null, h('h2', null, 'New model from JSON (any API body, Keras imports too)')), jsonForm);
	view.append(h('h1.page', null, 'Models'), form, jsonBox, h('section.card', null, list.wrap));

	tutorial();
	load(async () => {
		const page = await api('GET', '/v1/datasets?limit=500');
		for (const d of page.items) {
			datasets.set(String(d.id), d);
			shapeFrom.append(h('option', { value: d.id }, `${d.id}: ${d.name} (${d.n_features} features)`));
		}
		if (page.items.length) {
			shapeFrom.value = String(page.items[page.items.length - 1].id);
			applyShape();
		}
		json.value = JSON.stringify(body(), null, 2);
	});

	async function refresh() {
		const page = await load(() => api('GET', '/v1/models?limit=500'));
		if (!page)
			return;
		refill(list.body, page.items.map(row), 'No models yet.');
	}
	function row(m) {
		const del = h('button.danger', { type: 'button', dataset: { key: `del-${m.id}` }, 'aria-label': `Delete model ${modelLabel(m)}` }, 'Delete');
		del.addEventListener('click', async () => {
			if (!confirm(`Delete model “${modelLabel(m)}” with its jobs, versions and stored predictions?`))
				return;
			hideBanner();
			if (await load(() => api('DELETE', `/v1/models/${m.id}?cascade=true`).then(() => true)))
				refresh();
		});
		return h('tr', { dataset: { id: m.id } },
			h('td', null, m.id), h('td', null, h('a', { href: `#/models/${m.id}` }, modelLabel(m))),
			h('td', null, statusBadge(m.status)), h('td.num', { dataset: { col: 'n_params' } }, m.n_params),
			h('td', null, describeLayers(m)), h('td', null, typeof m.loss === 'string' ? m.loss : m.loss.type),
			h('td', null, describeOptimizer(m.optimizer)), h('td', null, when(m.updated_at)),
			h('td', null, h('div.row-actions', null,
				h('a.button', { href: `#/jobs?model=${m.id}`, dataset: { key: `train-${m.id}` } }, 'Train'), del)));
	}
	refresh();
}

function describeLayers(m) {
	return [m.input_dim, ...m.layers.map((l) => (l.type === 'dense'
		? `${l.units} ${typeof l.activation === 'string' ? l.activation : l.activation.type}`
		: l.type === 'normalization' || l.type === 'batch_normalization' ? l.type : `dropout ${l.rate}`))].join(' → ');
}

function describeOptimizer(o, full) {
	if (typeof o === 'string')
		return o;
	/* a learning-rate schedule is an object: its type, or all of it */
	const lr = o.learning_rate;
	if (!full)
		return `${o.type} ${lr && typeof lr === 'object' ? lr.type : lr ?? ''}`.trim();
	const params = Object.entries(o).filter(([k]) => k !== 'type')
		.map(([k, v]) => `${k} ${v && typeof v === 'object' ? JSON.stringify(v) : v}`);
	return `${o.type}: ${params.join(', ')}`;
}

function viewModel(view, id) {
	const info = h('dl.facts');
	const jobsList = table(['Job', 'Status', 'Progress', 'Loss', 'Created'], 'Jobs of this model');
	view.append(h('h1.page', null, `Model ${id}`), h('section.card', null, info,
		h('div.actions', null, h('a.button.primary', { href: `#/jobs?model=${id}` }, 'Train this model'))),
	predictBox(id), h('section.card', null, jobsList.wrap));
	load(async () => {
		const m = await api('GET', `/v1/models/${id}`);
		view.querySelector('h1').textContent = `Model ${m.id}: ${modelLabel(m)}`;
		info.replaceChildren(...facts({
			Status: statusBadge(m.status), Parameters: m.n_params, Layers: describeLayers(m),
			Loss: typeof m.loss === 'string' ? m.loss : JSON.stringify(m.loss), Optimizer: describeOptimizer(m.optimizer, true),
			Seed: m.seed, Created: when(m.created_at), Updated: when(m.updated_at),
		}));
		const jobs = await api('GET', `/v1/jobs?model_id=${id}&limit=500`);
		refill(jobsList.body, jobs.items.map(jobRowCells), 'No jobs yet.');
	});
}

function facts(obj) {
	return Object.entries(obj).map(([k, v]) => h('div', null, h('dt', null, k), h('dd', { dataset: { fact: k } }, v ?? '—')));
}

function jobRowCells(j) {
	return h('tr', null, h('td', null, h('a', { href: `#/jobs/${j.id}` }, `Job ${j.id}`)), h('td', null, statusBadge(j.status)),
		h('td', null, progress(j)), h('td.num', null, fmt(j.metrics?.loss)), h('td', null, when(j.created_at)));
}

function progress(j) {
	return h('span.progress', null,
		h('progress', { max: j.epochs, value: j.epoch, 'aria-label': `epoch ${j.epoch} of ${j.epochs}` }),
		h('span', null, `${j.epoch}/${j.epochs}`));
}

/* ---- predictions --------------------------------------------------------------------------- */

/* Rows from pasted text: JSON ([[...]], [...] or {"instances": ...}) or CSV / whitespace-separated lines. */
function parseRows(text) {
	const t = text.trim();
	if (!t)
		throw new ApiError(0, { code: 'validation_failed', message: 'paste at least one row', field: 'instances' });
	if (t[0] === '[' || t[0] === '{') {
		let v;
		try {
			v = JSON.parse(t);
		} catch (e) {
			throw new ApiError(0, { code: 'invalid_json', message: `not JSON: ${e.message}`, field: 'instances' });
		}
		if (v && !Array.isArray(v) && Array.isArray(v.instances))
			v = v.instances;
		if (Array.isArray(v) && v.length && !Array.isArray(v[0]))
			v = [v];
		return v;
	}
	const rows = [];
	t.split(/\r?\n/).forEach((line, i) => {
		const cells = line.split(/[,;\s]+/).filter((c) => c !== '');
		if (!cells.length)
			return;
		const nums = cells.map(Number);
		const bad = nums.findIndex((x) => !Number.isFinite(x));
		if (bad >= 0) {
			if (i === 0 && nums.every((x) => !Number.isFinite(x)))
				return; /* a header line */
			throw new ApiError(0, { code: 'validation_failed', field: 'instances', message: `line ${i + 1}: “${cells[bad]}” is not a number` });
		}
		rows.push(nums);
	});
	return rows;
}

function predictBox(modelId) {
	const rows = h('textarea.code', { rows: 5, spellcheck: false, dataset: { field: 'instances' }, placeholder: '0.5, 1.2, -0.3\n[[0.5, 1.2, -0.3]]' });
	const out = h('div.predict-out', { 'aria-live': 'polite' });
	const form = h('form.card.predict', { dataset: { fallback: 'instances' } },
		h('h2', null, 'Predict'),
		field('Rows to predict: JSON or CSV, one row per line', rows),
		h('div.actions', null, h('button.primary', { type: 'submit' }, 'Predict')),
		out);
	onSubmit(form, async () => {
		out.replaceChildren();
		const instances = parseRows(rows.value);
		const res = await api('POST', `/v1/models/${modelId}/predict`, { instances });
		const width = res.predictions[0]?.length || 0;
		const classes = res.classes || null;
		const heads = ['Row', ...(classes ? ['Class'] : []), ...Array.from({ length: width }, (_, i) => (classes ? `P(${i})` : `y${i}`))];
		const t = table(heads, `Prediction ${res.id ?? ''}`.trim());
		res.predictions.forEach((p, r) => {
			const cls = classes ? classes[r] : null;
			t.body.append(h('tr', { dataset: { row: r, class: cls ?? '' } },
				h('th', { scope: 'row' }, r + 1),
				classes ? h('td.cls', null, h('strong', null, cls)) : null,
				p.map((v, i) => h('td.num', { class: i === cls ? 'best' : null, dataset: { p: i } }, fmt(v)))));
		});
		out.append(t.wrap);
	});
	return form;
}

/* ---- jobs ------------------------------------------------------------------------------------- */

function viewJobs(view, query) {
	const model = select([], undefined, { dataset: { field: 'model_id' } });
	const dataset = select([], undefined, { dataset: { field: 'dataset_id' } });
	const epochs = h('input', { type: 'number', min: 1, step: 1, value: 50, dataset: { field: 'epochs' } });
	const batch = h('input', { type: 'number', min: 1, step: 1, value: 32, dataset: { field: 'batch_size' } });
	const split = h('input', { type: 'number', min: 0, max: 0.95, step: 0.05, value: 0.2, dataset: { field: 'validation_split' } });
	const seed = h('input', { type: 'number', step: 1, placeholder: 'random', dataset: { field: 'seed' } });
	const shuffle = h('input', { type: 'checkbox', checked: true, dataset: { field: 'shuffle' } });
	const patience = h('input', { type: 'number', min: 1, step: 1, placeholder: 'off', dataset: { field: 'early_stopping.patience' } });
	const form = h('form#job-form.card', null,
		h('h2', null, 'Start a training job'),
		h('div.grid', null,
			field('Model', model), field('Dataset', dataset),
			field('Epochs', epochs), field('Batch size', batch, '1 is SGD; ≥ samples is full batch'),
			field('Validation split', split, 'the last fraction of the rows'), field('Seed', seed),
			checkField('Shuffle each epoch', shuffle),
			field('Early stopping patience', patience, 'epochs without val_loss improvement')),
		h('div.actions', null, h('button.primary', { type: 'submit' }, 'Start training')));

	onSubmit(form, async () => {
		const b = {
			model_id: numberOrString(model.value), dataset_id: numberOrString(dataset.value),
			epochs: numberOrString(epochs.value), batch_size: numberOrString(batch.value),
			validation_split: numberOrString(split.value) ?? 0, shuffle: shuffle.checked,
		};
		const s = numberOrString(seed.value);
		if (s !== undefined)
			b.seed = s;
		const p = numberOrString(patience.value);
		if (p !== undefined)
			b.early_stopping = { monitor: 'val_loss', patience: p };
		const job = await api('POST', '/v1/jobs', b);
		location.hash = `#/jobs/${job.id}`;
	});

	const list = table(['Job', 'Model', 'Dataset', 'Status', 'Progress', 'Loss', 'Val loss', 'Created', '', 'Compare'], 'Jobs');
	/* Jobs ticked for the comparison page; kept across the list's refreshes. */
	const selected = new Set();
	const compare = h('button#compare-jobs', { type: 'button', disabled: true }, 'Compare selected jobs');
	compare.addEventListener('click', () => {
		location.hash = `#/compare?jobs=${[...selected].sort((a, b) => a - b).join(',')}`;
	});
	view.append(h('h1.page', null, 'Jobs'), form, h('section.card', null, h('div.actions', null, compare), list.wrap));

	const names = { models: new Map(), datasets: new Map() };
	load(async () => {
		const [ms, ds] = await Promise.all([api('GET', '/v1/models?limit=500'), api('GET', '/v1/datasets?limit=500')]);
		for (const m of ms.items) {
			names.models.set(m.id, modelLabel(m));
			model.append(h('option', { value: m.id }, `${m.id}: ${modelLabel(m)} (${m.input_dim} inputs, ${m.status})`));
		}
		for (const d of ds.items) {
			names.datasets.set(d.id, d.name);
			dataset.append(h('option', { value: d.id }, `${d.id}: ${d.name} (${d.n_samples}×${d.n_features})`));
		}
		const want = query.get('model');
		if (want && names.models.has(Number(want)))
			model.value = want;
		else if (ms.items.length)
			model.value = String(ms.items[ms.items.length - 1].id);
		/* the newest dataset that fits the chosen model */
		const m = ms.items.find((x) => String(x.id) === model.value);
		const fit = ds.items.filter((d) => !m || d.n_features === m.input_dim);
		if (fit.length)
			dataset.value = String(fit[fit.length - 1].id);
	});

	every(1500, async () => {
		const page = await load(() => api('GET', '/v1/jobs?limit=100'));
		if (!page)
			return;
		const items = page.items.slice().sort((a, b) => b.id - a.id);
		refill(list.body, items.map(row), 'No jobs yet.');
	});
	function row(j) {
		let cancel = null;
		if (!FINAL.has(j.status)) {
			cancel = h('button.danger', {
				type: 'button', dataset: { key: `cancel-${j.id}`, action: 'cancel' }, 'aria-label': `Cancel job ${j.id}`,
			}, 'Cancel');
			cancel.addEventListener('click', async () => {
				cancel.disabled = true;
				hideBanner();
				await load(() => api('POST', `/v1/jobs/${j.id}/cancel`));
			});
		}
		const pick = h('input', {
			type: 'checkbox', checked: selected.has(j.id), 'aria-label': `Compare job ${j.id}`,
			dataset: { key: `pick-${j.id}`, action: 'compare' },
		});
		pick.addEventListener('change', () => {
			if (pick.checked)
				selected.add(j.id);
			else
				selected.delete(j.id);
			compare.disabled = selected.size === 0;
		});
		return h('tr', { dataset: { id: j.id, status: j.status } },
			h('td', null, h('a', { href: `#/jobs/${j.id}`, dataset: { key: `open-${j.id}` } }, `Job ${j.id}`)),
			h('td', null, h('a', { href: `#/models/${j.model_id}` }, names.models.get(j.model_id) || j.model_id)),
			h('td', null, names.datasets.get(j.dataset_id) || j.dataset_id),
			h('td', null, statusBadge(j.status)), h('td', null, progress(j)),
			h('td.num', null, fmt(j.metrics?.loss)), h('td.num', null, fmt(j.metrics?.val_loss)),
			h('td', null, when(j.created_at)), h('td', null, cancel), h('td', null, pick));
	}
}

/* ---- one job: live curves ------------------------------------------------------------------ */

const COLORS = { loss: '#2563eb', val_loss: '#dc2626', accuracy: '#059669', val_accuracy: '#d97706' };
/* The model's other metrics (docs/API.md), drawn together; val_ twins dashed in the same colour. */
const METRICS = ['precision', 'recall', 'auc', 'f1_score', 'mae', 'mse', 'rmse', 'r2_score'];
const METRIC_COLORS = ['#7c3aed', '#db2777', '#0891b2', '#65a30d', '#ea580c', '#4f46e5', '#0d9488', '#b45309'];
METRICS.forEach((k, i) => { COLORS[k] = COLORS[`val_${k}`] = METRIC_COLORS[i]; });
const METRIC_KEYS = METRICS.flatMap((k) => [k, `val_${k}`]);

function makeChart(canvas, keys, yTitle) {
	return new Chart(canvas, {
		type: 'line',
		data: {
			datasets: keys.map((k) => ({
				label: k, data: [], borderColor: COLORS[k], backgroundColor: COLORS[k],
				borderWidth: 2, borderDash: k.startsWith('val_') ? [6, 4] : [], tension: 0,
				pointRadius: (ctx) => (ctx.dataset.data.length > 60 ? 0 : 2), /* dots only while they fit */
			})),
		},
		options: {
			animation: false, responsive: true, maintainAspectRatio: false, parsing: false, normalized: true,
			interaction: { mode: 'nearest', axis: 'x', intersect: false },
			scales: {
				x: { type: 'linear', title: { display: true, text: 'epoch' }, ticks: { precision: 0 } },
				y: { title: { display: true, text: yTitle } },
			},
			plugins: {
				legend: {
					position: 'bottom',
					/* only the series the job reports */
					labels: { usePointStyle: true, pointStyle: 'line', filter: (item, data) => data.datasets[item.datasetIndex].data.length > 0 },
				},
			},
		},
	});
}

function viewJob(view, id) {
	const title = h('h1.page', null, `Job ${id}`);
	const info = h('dl.facts');
	const cancel = h('button.danger#cancel-job', { type: 'button', disabled: true }, 'Cancel job');
	const live = h('p.status', { role: 'status' });
	const lossCanvas = h('canvas#chart-loss', { role: 'img', 'aria-label': 'Loss per epoch' });
	const accCanvas = h('canvas#chart-accuracy', { role: 'img', 'aria-label': 'Accuracy per epoch' });
	const accFigure = h('figure.chart', { hidden: true }, h('figcaption', null, 'Accuracy'), h('div.chart-box', null, accCanvas));
	const metCanvas = h('canvas#chart-metrics', { role: 'img', 'aria-label': 'Metrics per epoch' });
	const metFigure = h('figure.chart', { hidden: true }, h('figcaption', null, 'Metrics'), h('div.chart-box', null, metCanvas));
	const predictSlot = h('div');
	view.append(title,
		h('section.card', null, info, h('div.actions', null, cancel), live),
		h('section.charts', null,
			h('figure.chart', null, h('figcaption', null, 'Loss'), h('div.chart-box', null, lossCanvas)),
			accFigure, metFigure),
		predictSlot);

	if (typeof Chart === 'undefined') {
		banner('Chart.js is not installed on the server (Debian package libjs-chart.js); the curves cannot be drawn.');
		return;
	}
	const charts = {
		loss: makeChart(lossCanvas, ['loss', 'val_loss'], 'loss'), accuracy: makeChart(accCanvas, ['accuracy', 'val_accuracy'], 'accuracy'),
		metrics: makeChart(metCanvas, METRIC_KEYS, 'metric'),
	};
	window.fitdCharts = Object.assign({ jobId: Number(id), epochs: 0 }, charts);
	const series = {};
	for (const c of [charts.loss, charts.accuracy, charts.metrics])
		for (const d of c.data.datasets)
			series[d.label] = d;

	let job = null, datasetName = null, modelName = null, lastEpoch = 0, frame = 0, streamDone = false, summaryDirty = false;
	const redraw = () => {
		frame = 0;
		if (summaryDirty) {
			summaryDirty = false;
			renderJob();
		}
		charts.loss.update('none');
		charts.accuracy.update('none');
		charts.metrics.update('none');
		accFigure.hidden = series.accuracy.data.length === 0 && series.val_accuracy.data.length === 0;
		const drawn = METRIC_KEYS.filter((k) => series[k].data.length);
		metFigure.hidden = drawn.length === 0;
		metCanvas.setAttribute('aria-label', `Metrics per epoch: ${drawn.map((k) => `${k} ${fmt(series[k].data.at(-1)?.y)}`).join(', ') || 'none'}`);
		lossCanvas.setAttribute('aria-label', `Loss per epoch: ${lastEpoch} epochs, latest loss ${fmt(series.loss.data.at(-1)?.y)}` +
			(series.val_loss.data.length ? `, validation loss ${fmt(series.val_loss.data.at(-1)?.y)}` : ''));
		accCanvas.setAttribute('aria-label', `Accuracy per epoch: latest ${fmt(series.accuracy.data.at(-1)?.y)}`);
	};
	/* Redraws at most once per frame (a replay delivers thousands of epochs at once), and at once when hidden. */
	const schedule = () => {
		if (document.hidden)
			redraw();
		else if (!frame)
			frame = requestAnimationFrame(redraw);
	};

	function addEpoch(row) {
		if (row.epoch <= lastEpoch) /* replayed again: keep each epoch once */
			for (const d of Object.values(series))
				d.data = d.data.filter((p) => p.x < row.epoch);
		for (const [k, d] of Object.entries(series))
			if (typeof row[k] === 'number')
				d.data.push({ x: row.epoch, y: row[k] });
		lastEpoch = row.epoch;
		window.fitdCharts.epochs = lastEpoch;
		if (job) {
			job.epoch = Math.max(job.epoch, row.epoch);
			job.metrics = Object.fromEntries(Object.entries(row).filter(([k]) => k !== 'epoch' && k !== 'seconds'));
			summaryDirty = true;
		}
		schedule();
	}

	function renderJob() {
		title.replaceChildren(`Job ${job.id} `, statusBadge(job.status));
		const m = job.metrics || {};
		info.replaceChildren(...facts({
			Model: h('a', { href: `#/models/${job.model_id}` }, modelName ? `${modelName} (${job.model_id})` : `model ${job.model_id}`),
			Dataset: h('a', { href: '#/datasets' }, datasetName ? `${datasetName} (${job.dataset?.id ?? job.dataset_id})` : `dataset ${job.dataset_id}`),
			Progress: progress(job),
			Loss: fmt(m.loss), 'Val loss': fmt(m.val_loss), Accuracy: fmt(m.accuracy), 'Val accuracy': fmt(m.val_accuracy),
			...Object.fromEntries(METRIC_KEYS.filter((k) => k in m).map((k) => [k, fmt(m[k])])),
			'Batch size': job.batch_size, 'Validation split': job.validation_split, Seed: job.seed,
			'Samples/s': job.samples_per_second ? Math.round(job.samples_per_second).toLocaleString() : '—',
			Started: when(job.started_at), Finished: when(job.finished_at),
			'Weights SHA-256': job.weights_sha256 ? h('code', null, job.weights_sha256) : '—',
			Error: job.error || null,
		}));
		cancel.disabled = FINAL.has(job.status);
	}

	cancel.addEventListener('click', async () => {
		cancel.disabled = true;
		live.textContent = 'Cancelling…';
		const j = await load(() => api('POST', `/v1/jobs/${id}/cancel`));
		if (j) {
			job = Object.assign(job || {}, j);
			renderJob();
			live.textContent = `Job ${id} ${j.status}.`;
		} else {
			cancel.disabled = job ? FINAL.has(job.status) : false;
			live.textContent = '';
		}
	});

	const abort = new AbortController();
	cleanups.push(() => {
		abort.abort();
		if (frame)
			cancelAnimationFrame(frame);
		charts.loss.destroy();
		charts.accuracy.destroy();
		charts.metrics.destroy();
	});

	load(async () => {
		job = await api('GET', `/v1/jobs/${id}`);
		renderJob();
		/* names for the summary; a deleted dataset or model just keeps its id */
		if (job.dataset) { /* the job's lineage names its dataset, also once deleted */
			datasetName = job.dataset.deleted ? `${job.dataset.name} (deleted)` : job.dataset.name;
			renderJob();
		} else
			api('GET', `/v1/datasets/${job.dataset_id}`).then((d) => { datasetName = d.name; renderJob(); }, () => {});
		api('GET', `/v1/models/${job.model_id}`).then((m) => { modelName = m.name; renderJob(); }, () => {});
		predictSlot.replaceChildren(predictBox(job.model_id));
		live.textContent = FINAL.has(job.status) ? '' : 'Live: updating as epochs finish.';
		await readEvents(`/v1/jobs/${id}/events`, {
			signal: abort.signal,
			on(type, data) {
				const v = JSON.parse(data);
				if (type === 'epoch') {
					addEpoch(v);
				} else if (type === 'status') {
					job = Object.assign(job, v);
					if (lastEpoch > job.epoch)
						job.epoch = lastEpoch;
					renderJob();
					if (FINAL.has(v.status)) {
						streamDone = true;
						live.textContent = `Job ${v.status}.`;
					}
				}
			},
			done: () => streamDone,
			onError: (err) => showError(null, err),
		});
		if (streamDone) {
			window.fitdCharts.done = true;
			schedule();
		}
	});
}

/* ---- runs compared: several jobs' curves overlaid ---------------------------------------------- */

const PALETTE = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#db2777', '#0891b2', '#65a30d', '#ea580c',
	'#4b5563', '#1e3a8a', '#9d174d'];

/* The series of history rows worth a chart: loss, val_loss, then every other number a row carries. */
function seriesOf(histories) {
	const keys = new Set(['loss']);
	for (const rows of histories)
		for (const r of rows)
			for (const [k, v] of Object.entries(r))
				if (typeof v === 'number' && k !== 'epoch' && k !== 'seconds')
					keys.add(k);
	const order = ['loss', 'val_loss', 'accuracy', 'val_accuracy'];
	return [...keys].sort((a, b) => ((order.indexOf(a) + 1) || 99) - ((order.indexOf(b) + 1) || 99) || a.localeCompare(b));
}

/* One chart per series in box, one line per run: set(runs) with runs = [{label, history}]. */
function overlay(box, idPrefix) {
	const charts = {};
	function chartFor(series) {
		if (!charts[series]) {
			const canvas = h(`canvas#${idPrefix}-${series}`, { role: 'img', 'aria-label': `${series} per epoch, one line per run` });
			box.append(h('figure.chart', { dataset: { series } }, h('figcaption', null, series), h('div.chart-box', null, canvas)));
			charts[series] = makeChart(canvas, [], series);
			charts[series].options.plugins.legend.labels.usePointStyle = false;
		}
		return charts[series];
	}
	return {
		charts,
		set(runs) {
			for (const series of seriesOf(runs.map((r) => r.history))) {
				const chart = chartFor(series);
				chart.data.datasets = runs.map((r, i) => ({
					label: r.label, borderColor: PALETTE[i % PALETTE.length], backgroundColor: PALETTE[i % PALETTE.length],
					borderWidth: 2, tension: 0, pointRadius: r.history.length > 60 ? 0 : 2,
					data: r.history.filter((e) => typeof e[series] === 'number').map((e) => ({ x: e.epoch, y: e[series] })),
				}));
				chart.update('none');
			}
		},
		destroy() {
			for (const c of Object.values(charts))
				c.destroy();
		},
	};
}

/* Histories of jobs, fetched again only while a job is not final. */
function historyCache() {
	const done = new Map();
	return async (job) => {
		if (done.has(job.id))
			return done.get(job.id);
		const rows = (await api('GET', `/v1/jobs/${job.id}/history`)).epochs;
		if (FINAL.has(job.status))
			done.set(job.id, rows);
		return rows;
	};
}

function viewCompare(view, query) {
	const ids = (query.get('jobs') || '').split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0);
	const input = h('input', { type: 'text', value: ids.join(', '), placeholder: '3, 7, 12', dataset: { field: 'jobs' } });
	const form = h('form#compare-form.card', null, h('h2', null, 'Jobs to compare'),
		field('Job ids', input, 'comma-separated; or tick jobs in the Jobs list'),
		h('div.actions', null, h('button.primary', { type: 'submit' }, 'Compare')));
	form.addEventListener('submit', (e) => {
		e.preventDefault();
		const want = input.value.split(/[\s,]+/).map(Number).filter((n) => Number.isInteger(n) && n > 0);
		location.hash = `#/compare?jobs=${want.join(',')}`;
	});
	const list = table(['Job', 'Model', 'Status', 'Progress', 'Loss', 'Val loss'], 'Compared jobs');
	const box = h('section.charts#compare-charts');
	view.append(h('h1.page', null, 'Compare runs'), form, h('section.card', null, list.wrap), box);
	if (!ids.length) {
		refill(list.body, [], 'No jobs chosen yet.');
		return;
	}
	if (typeof Chart === 'undefined') {
		banner('Chart.js is not installed on the server (Debian package libjs-chart.js); the curves cannot be drawn.');
		return;
	}
	const ov = overlay(box, 'compare');
	window.fitdCharts = { compare: ids, charts: ov.charts, done: false };
	cleanups.push(() => ov.destroy());
	const history = historyCache();
	let finished = false;
	every(2000, async () => {
		if (finished)
			return;
		const jobs = await load(() => Promise.all(ids.map((id) => api('GET', `/v1/jobs/${id}`))));
		if (!jobs)
			return;
		const runs = await load(() => Promise.all(jobs.map(async (j) => ({ label: `Job ${j.id}`, history: await history(j) }))));
		if (!runs)
			return;
		refill(list.body, jobs.map((j) => h('tr', { dataset: { id: j.id, status: j.status } },
			h('td', null, h('a', { href: `#/jobs/${j.id}` }, `Job ${j.id}`)),
			h('td', null, h('a', { href: `#/models/${j.model_id}` }, `Model ${j.model_id}`)),
			h('td', null, statusBadge(j.status)), h('td', null, progress(j)),
			h('td.num', null, fmt(j.metrics?.loss)), h('td.num', null, fmt(j.metrics?.val_loss)))), 'No jobs.');
		ov.set(runs);
		finished = jobs.every((j) => FINAL.has(j.status));
		if (window.fitdCharts)
			window.fitdCharts.done = finished;
	});
}

/* ---- sweeps ---------------------------------------------------------------------------------- */

function sweepProgress(s) {
	const c = s.counts || {};
	const ended = (c.succeeded || 0) + (c.failed || 0) + (c.cancelled || 0);
	return h('span.progress', null,
		h('progress', { max: s.n_points, value: ended, 'aria-label': `${ended} of ${s.n_points} points ended` }),
		h('span', null, `${ended}/${s.n_points}`));
}

function viewSweeps(view) {
	const list = table(['Sweep', 'Status', 'Kind', 'Metric', 'Points', 'Created'], 'Sweeps');
	view.append(h('h1.page', null, 'Sweeps'),
		h('section.card', null, h('p', null, 'Grid and random sweeps are started with POST /v1/sweeps (docs/API.md, "Sweeps").'), list.wrap));
	every(2000, async () => {
		const page = await load(() => api('GET', '/v1/sweeps?limit=100'));
		if (!page)
			return;
		refill(list.body, page.items.map((s) => h('tr', { dataset: { id: s.id, status: s.status } },
			h('td', null, h('a', { href: `#/sweeps/${s.id}`, dataset: { key: `open-${s.id}` } }, `${s.name} (${s.id})`)),
			h('td', null, statusBadge(s.status)), h('td', null, s.kind), h('td', null, `${s.metric} (${s.mode})`),
			h('td', null, sweepProgress(s)), h('td', null, when(s.created_at)))), 'No sweeps yet.');
	});
}

function paramText(v) {
	return typeof v === 'number' ? fmt(v, 4) : JSON.stringify(v);
}

function viewSweep(view, id) {
	const title = h('h1.page', null, `Sweep ${id}`);
	const info = h('dl.facts');
	const cancel = h('button.danger#cancel-sweep', { type: 'button', disabled: true }, 'Cancel remaining points');
	const live = h('p.status', { role: 'status' });
	const tableSlot = h('div.table-wrap');
	const box = h('section.charts#sweep-charts');
	view.append(title, h('section.card', null, info, h('div.actions', null, cancel), live),
		h('section.card', null, h('h2', null, 'Points, best first'), tableSlot), box);
	if (typeof Chart === 'undefined') {
		banner('Chart.js is not installed on the server (Debian package libjs-chart.js); the curves cannot be drawn.');
		return;
	}
	const ov = overlay(box, 'sweep');
	window.fitdCharts = { sweepId: Number(id), charts: ov.charts, done: false, points: [] };
	cleanups.push(() => ov.destroy());
	const history = historyCache();
	let sweep = null, finished = false;

	function render() {
		title.replaceChildren(`${sweep.name} `, statusBadge(sweep.status));
		info.replaceChildren(...facts({
			Kind: sweep.kind, Metric: `${sweep.metric} (${sweep.mode})`, Points: sweepProgress(sweep),
			Succeeded: sweep.counts.succeeded, Failed: sweep.counts.failed, Cancelled: sweep.counts.cancelled,
			Created: when(sweep.created_at),
		}));
		cancel.disabled = FINAL.has(sweep.status);
		const paths = [...new Set(sweep.points.flatMap((p) => Object.keys(p.params || {})))];
		const t = h('table#sweep-points', null, h('caption', null, `Points ranked by ${sweep.metric} (${sweep.mode})`),
			h('thead', null, h('tr', null, ['Rank', 'Point', ...paths, 'Status', 'Progress', `Best ${sweep.metric}`, 'Best epoch', 'Job', 'Model']
				.map((x) => h('th', { scope: 'col' }, x)))),
			h('tbody', null, sweep.points.map((p) => h('tr', { dataset: { index: p.index, status: p.status } },
				h('td.num', null, p.rank), h('td.num', null, `#${p.index}`),
				...paths.map((k) => h('td.num', { dataset: { param: k } }, k in p.params ? paramText(p.params[k]) : '—')),
				h('td', null, statusBadge(p.status)), h('td', null, progress(p)),
				h('td.num', { dataset: { best: '' } }, fmt(p.best)), h('td.num', null, p.best_epoch ?? '—'),
				h('td', null, p.job_id ? h('a', { href: `#/jobs/${p.job_id}`, dataset: { link: 'job' } }, `Job ${p.job_id}`) : '—'),
				h('td', null, p.model_id ? h('a', { href: `#/models/${p.model_id}`, dataset: { link: 'model' } }, `Model ${p.model_id}`) : '—')))));
		tableSlot.replaceChildren(t);
	}

	cancel.addEventListener('click', async () => {
		cancel.disabled = true;
		live.textContent = 'Cancelling…';
		const s = await load(() => api('POST', `/v1/sweeps/${id}/cancel`));
		if (s) {
			sweep = s;
			render();
			live.textContent = `Sweep ${s.status}.`;
		} else {
			live.textContent = '';
		}
	});

	every(2000, async () => {
		if (finished)
			return;
		const s = await load(() => api('GET', `/v1/sweeps/${id}`));
		if (!s)
			return;
		sweep = s;
		render();
		/* Curves in point order, so a point keeps its colour as the ranking changes. */
		const byIndex = s.points.filter((p) => p.job_id).sort((a, b) => a.index - b.index);
		const runs = await load(() => Promise.all(byIndex.map(async (p) => ({
			label: `#${p.index} ${Object.entries(p.params).map(([k, v]) => `${k}=${paramText(v)}`).join(' ')}`,
			history: await history({ id: p.job_id, status: p.status }),
		}))));
		if (!runs)
			return;
		ov.set(runs);
		finished = !['queued', 'running'].includes(s.status);
		if (window.fitdCharts) {
			window.fitdCharts.points = byIndex.map((p) => ({ index: p.index, jobId: p.job_id }));
			window.fitdCharts.done = finished;
		}
		live.textContent = finished ? `Sweep ${s.status}.` : 'Live: updating as points train.';
	});
}

/* ---- start-up ---------------------------------------------------------------------------------- */

function start() {
	const keyForm = document.getElementById('key-form');
	const keyInput = document.getElementById('api-key');
	keyInput.value = apiKey();
	keyForm.addEventListener('submit', (ev) => {
		ev.preventDefault();
		const v = keyInput.value.trim();
		if (v)
			localStorage.setItem(KEY_STORAGE, v);
		else
			localStorage.removeItem(KEY_STORAGE);
		clearErrors(keyForm);
		route();
		serverInfo();
	});
	document.getElementById('banner-close').addEventListener('click', hideBanner);
	/* The skip link must not change the hash, which is the router's. */
	document.querySelector('.skip').addEventListener('click', (ev) => {
		ev.preventDefault();
		document.getElementById('view').focus();
	});
	window.addEventListener('hashchange', route);
	route();
	serverInfo();
}

async function serverInfo() {
	const el = document.getElementById('server-info');
	try {
		const i = await api('GET', '/v1/info');
		el.textContent = `fitd ${i.version} · ${i.workers} workers · ${i.blas.split(' ')[0]} · API key ${i.auth ? 'required' : 'not required'}`;
	} catch (err) {
		el.textContent = `fitd · ${err.message}`;
	}
}

if (document.readyState === 'loading')
	document.addEventListener('DOMContentLoaded', start);
else
	start();
