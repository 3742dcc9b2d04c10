// i18n.js -- English and Spanish texts (i18n/en.json, i18n/es.json).
// t('key', {n: 3}) replaces {n}; a missing key shows the English text,
// then the key itself. The choice is kept in localStorage.

const dicts = {};
let lang = 'en';

export async function loadLang(l) {
  for (const code of new Set(['en', l])) {
    if (!dicts[code]) {
      const r = await fetch(`/ui/i18n/${code}.json`);
      dicts[code] = await r.json();
    }
  }
  lang = l;
  document.documentElement.lang = l;
  try { localStorage.setItem('apolo.lang', l); } catch (e) { /* private mode */ }
}

export function savedLang() {
  let l = null;
  try { l = localStorage.getItem('apolo.lang'); } catch (e) { /* */ }
  if (l === 'en' || l === 'es') return l;
  return (navigator.language || 'en').toLowerCase().startsWith('es') ? 'es' : 'en';
}

export function currentLang() { return lang; }

export function t(key, vars) {
  let s = dicts[lang]?.[key] ?? dicts.en?.[key] ?? key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  return s;
}

// Static markup: data-i18n="key" sets the text.
export function translateDom(root = document) {
  for (const n of root.querySelectorAll('[data-i18n]')) n.textContent = t(n.dataset.i18n);
}
