// @vitest-environment happy-dom
// The page picks its backend from its own hostname, never from build-time env.
import { afterEach, describe, expect, it } from 'vitest';
import { ChatClient } from './chatClient';

function visit(url: string): void {
  (window as unknown as { happyDOM: { setURL(url: string): void } }).happyDOM.setURL(url);
}

describe('ChatClient baseUrl', () => {
  afterEach(() => visit('http://localhost:3000/'));

  // The exact Space URL is `cargo xtask deploy`'s to patch and `cargo xtask check`'s to lint
  // against Cargo.toml; here it only has to be a remote https origin.
  it('uses the Space on a deployed hostname', () => {
    visit('https://my-app.vercel.app/');
    expect(new ChatClient().baseUrl).toMatch(/^https:\/\/[a-z0-9.-]+\.[a-z]{2,}$/);
    expect(new ChatClient().baseUrl).not.toContain('localhost');
  });

  it('treats 127.0.0.1 as deployed, by design (only "localhost" means local)', () => {
    visit('http://127.0.0.1:4173/');
    expect(new ChatClient().baseUrl).not.toBe('http://localhost:8000');
  });

  it('uses the local backend on localhost', () => {
    visit('http://localhost:5173/');
    expect(new ChatClient().baseUrl).toBe('http://localhost:8000');
  });
});
