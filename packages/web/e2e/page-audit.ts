import type { Page } from 'playwright-core';

/** One text element whose contrast with what is behind it is under WCAG AA. */
export interface ContrastFailure {
  text: string;
  ratio: number;
  needed: number;
  color: string;
  background: string;
  element: string;
}

/** One control a keyboard or screen-reader user cannot use: no accessible name. */
export interface UnnamedControl {
  element: string;
  html: string;
}

export interface PageAudit {
  /** Visible text elements checked. */
  checked: number;
  contrast: ContrastFailure[];
  unnamed: UnnamedControl[];
  /** How far the page is wider than the viewport (px); 0 means no sideways scrolling. */
  overflowX: number;
}

/**
 * Audits what the browser actually renders, in the current theme and viewport:
 * - WCAG 2.x AA contrast (4.5:1, 3:1 for large text: 24 px, or 18.66 px bold) of every visible
 *   element with its own text, against the first opaque background behind it (semi-transparent
 *   backgrounds are blended over it). Elements over images or canvas cannot be judged this way
 *   and are skipped; disabled controls are exempt, as WCAG says.
 * - every visible button, link, input, select and textarea has an accessible name (text,
 *   aria-label, aria-labelledby, a <label>, title or placeholder).
 * - the document is no wider than the viewport (a phone would scroll sideways).
 * Runs inside the page (page.evaluate), so it sees computed styles, not stylesheets.
 */
export function auditPage(page: Page): Promise<PageAudit> {
  return page.evaluate(() => {
    type Rgba = [number, number, number, number];
    const parse = (c: string): Rgba | null => {
      const m = c.match(/rgba?\(([^)]+)\)/);
      if (!m) return null;
      const parts = m[1]!
        .split(/[\s,/]+/)
        .filter(Boolean)
        .map(Number);
      return [parts[0]!, parts[1]!, parts[2]!, parts.length > 3 ? parts[3]! : 1];
    };
    const over = (top: Rgba, under: Rgba): Rgba => {
      const a = top[3];
      return [top[0] * a + under[0] * (1 - a), top[1] * a + under[1] * (1 - a), top[2] * a + under[2] * (1 - a), 1];
    };
    const channel = (v: number) => {
      const s = v / 255;
      return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    };
    const luminance = (c: Rgba) => 0.2126 * channel(c[0]) + 0.7152 * channel(c[1]) + 0.0722 * channel(c[2]);
    const ratio = (a: Rgba, b: Rgba) => {
      const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
      return (hi + 0.05) / (lo + 0.05);
    };
    const describe = (el: Element) =>
      `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.getAttribute('data-testid') ? `[data-testid=${el.getAttribute('data-testid')}]` : ''}${typeof el.className === 'string' && el.className ? `.${el.className.trim().split(/\s+/).join('.')}` : ''}`;
    const visible = (el: Element) => {
      const r = el.getBoundingClientRect();
      const s = getComputedStyle(el);
      return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none' && Number(s.opacity) > 0.1 && !el.closest('[aria-hidden="true"]');
    };
    /** The colour behind `el`, or null when an image or canvas is behind it. */
    const backdrop = (el: Element): Rgba | null => {
      const layers: Rgba[] = [];
      for (let cur: Element | null = el; cur; cur = cur.parentElement) {
        const s = getComputedStyle(cur);
        if (s.backgroundImage !== 'none' || cur.tagName === 'CANVAS') return null;
        const bg = parse(s.backgroundColor);
        if (bg && bg[3] > 0) {
          layers.push(bg);
          if (bg[3] >= 1) break;
        }
      }
      let base: Rgba = [255, 255, 255, 1];
      for (let i = layers.length - 1; i >= 0; i--) base = layers[i]![3] >= 1 ? layers[i]! : over(layers[i]!, base);
      return base;
    };

    const contrast: ContrastFailure[] = [];
    let checked = 0;
    for (const el of Array.from(document.body.querySelectorAll('*'))) {
      const own = Array.from(el.childNodes).some((n) => n.nodeType === Node.TEXT_NODE && (n.textContent ?? '').trim() !== '');
      if (!own || !visible(el) || ['SCRIPT', 'STYLE', 'NOSCRIPT', 'OPTION'].includes(el.tagName)) continue;
      if ((el as HTMLButtonElement).disabled || el.closest('[disabled],[aria-disabled="true"]')) continue;
      const s = getComputedStyle(el);
      const fg = parse(s.color);
      const bg = backdrop(el);
      if (!fg || !bg) continue;
      checked++;
      const px = parseFloat(s.fontSize);
      const bold = Number(s.fontWeight) >= 700;
      const needed = px >= 24 || (bold && px >= 18.66) ? 3 : 4.5;
      const r = ratio(over(fg, bg), bg);
      if (r < needed) {
        contrast.push({
          text: (el.textContent ?? '').trim().slice(0, 60),
          ratio: Math.round(r * 100) / 100,
          needed,
          color: s.color,
          background: `rgb(${bg.slice(0, 3).map(Math.round).join(', ')})`,
          element: describe(el),
        });
      }
    }

    const unnamed: UnnamedControl[] = [];
    const labelled = (el: Element) => {
      const aria = el.getAttribute('aria-label')?.trim();
      if (aria) return true;
      const by = el.getAttribute('aria-labelledby');
      if (by?.split(/\s+/).some((id) => (document.getElementById(id)?.textContent ?? '').trim() !== '')) return true;
      if ((el.textContent ?? '').trim() !== '' && el.tagName !== 'INPUT' && el.tagName !== 'SELECT' && el.tagName !== 'TEXTAREA') return true;
      if (el.getAttribute('title')?.trim() || el.getAttribute('placeholder')?.trim()) return true;
      const id = el.getAttribute('id');
      if (id && document.querySelector(`label[for="${CSS.escape(id)}"]`)) return true;
      if (el.closest('label')) return true;
      if (el.tagName === 'INPUT' && ['submit', 'button', 'reset'].includes((el as HTMLInputElement).type) && (el as HTMLInputElement).value) return true;
      return el.querySelector('img[alt]:not([alt=""]), svg[aria-label], [role="img"][aria-label]') !== null;
    };
    for (const el of Array.from(
      document.querySelectorAll('button, a[href], input:not([type="hidden"]), select, textarea, [role="button"], [tabindex]:not([tabindex="-1"])'),
    )) {
      if (!visible(el) && !(el.tagName === 'INPUT' && (el as HTMLInputElement).type === 'file')) continue;
      if (!labelled(el)) unnamed.push({ element: describe(el), html: el.outerHTML.slice(0, 160) });
    }

    const overflowX = Math.max(0, document.documentElement.scrollWidth - window.innerWidth);
    return { checked, contrast, unnamed, overflowX };
  });
}

/** A readable list of an audit's findings, for an assertion message. */
export function auditReport(where: string, a: PageAudit): string {
  const lines = [
    `${where}: ${a.contrast.length} contrast failure(s), ${a.unnamed.length} unnamed control(s), ${a.overflowX}px sideways overflow (${a.checked} text elements checked)`,
  ];
  for (const c of a.contrast.slice(0, 15)) lines.push(`  contrast ${c.ratio}:1 < ${c.needed}:1  ${c.element}  "${c.text}"  ${c.color} on ${c.background}`);
  for (const u of a.unnamed.slice(0, 15)) lines.push(`  no accessible name: ${u.element}  ${u.html}`);
  return lines.join('\n');
}

/** What tabbing through a page showed. */
export interface FocusAudit {
  /** Distinct elements the Tab key reached. */
  reached: number;
  /** Elements that took the focus without any visible sign of it (no outline, no box-shadow). */
  invisible: string[];
}

/**
 * Presses Tab up to `maxTabs` times from the top of the page and checks each element that takes
 * the focus shows it (WCAG 2.4.7): an outline of some width, or a box-shadow ring.
 */
export async function auditFocus(page: Page, maxTabs = 40): Promise<FocusAudit> {
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  const seen = new Set<string>();
  const invisible: string[] = [];
  for (let i = 0; i < maxTabs; i++) {
    await page.keyboard.press('Tab');
    const f = await page.evaluate(() => {
      const el = document.activeElement;
      if (!el || el === document.body) return null;
      const s = getComputedStyle(el);
      const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0;
      const ring = s.boxShadow !== 'none' && s.boxShadow !== '';
      const path: string[] = [];
      for (let cur: Element | null = el; cur && cur !== document.body; cur = cur.parentElement) {
        path.unshift(`${cur.tagName.toLowerCase()}:${Array.from(cur.parentElement?.children ?? []).indexOf(cur)}`);
      }
      const name = `${el.tagName.toLowerCase()}${el.getAttribute('data-testid') ? `[data-testid=${el.getAttribute('data-testid')}]` : ''} "${(el.getAttribute('aria-label') ?? el.textContent ?? '').trim().slice(0, 30)}"`;
      return { key: path.join('/'), name, shown: outline || ring };
    });
    if (!f) continue;
    if (seen.has(f.key)) break;
    seen.add(f.key);
    if (!f.shown) invisible.push(f.name);
  }
  return { reached: seen.size, invisible };
}
