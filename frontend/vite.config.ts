// Vite's build of the chat page (one HTML file with its script and stylesheet inlined) and
// vitest's settings.
import { defineConfig, type Plugin } from 'vitest/config';

/**
 * Puts the page's one script and one stylesheet inside index.html: both are a few kB, and
 * one request instead of three is what makes the box interactive sooner.
 */
function inlineEntry(): Plugin {
  return {
    name: 'inline-entry',
    apply: 'build',
    enforce: 'post',
    generateBundle(_options, bundle) {
      const html = bundle['index.html'] as (typeof bundle)[string] | undefined;
      if (html?.type !== 'asset') return;
      let page = String(html.source);
      for (const [name, item] of Object.entries(bundle)) {
        const ref = new RegExp(`<(script|link)[^>]*(?:src|href)="/${name.replace(/[.]/g, '\\.')}"[^>]*>(</script>)?`);
        let inline: string;
        if (item.type === 'chunk' && item.isEntry) {
          inline = `<script type="module">${item.code.replace(/<\/script/gi, '<\\/script')}</script>`;
        } else if (item.type === 'asset' && name.endsWith('.css')) {
          inline = `<style>${String(item.source)}</style>`;
        } else {
          continue;
        }
        if (!ref.test(page)) this.error(`index.html has no <script> or <link> for ${name} to inline`);
        page = page.replace(ref, () => inline);
        // Removing an entry from the bundle is how a Rollup plugin drops an output file.
        // eslint-disable-next-line @typescript-eslint/no-dynamic-delete
        delete bundle[name];
      }
      html.source = page;
    },
  };
}

export default defineConfig({
  plugins: [inlineEntry()],
  build: {
    target: 'es2020',
  },
  test: {
    include: ['src/**/*.test.ts'],
  },
});
