// @vitest-environment happy-dom
// The session id in storage: kept across reloads, forgotten on clear, and no failure when the
// browser blocks storage.
import { beforeEach, describe, expect, it } from 'vitest';
import { SessionStore } from './session';

describe('SessionStore', () => {
  beforeEach(() => localStorage.clear());

  it('keeps the session id across instances, as across reloads', () => {
    new SessionStore(localStorage).set('s-1');

    expect(new SessionStore(localStorage).get()).toBe('s-1');
  });

  it('forgets the session on clear', () => {
    const store = new SessionStore(localStorage);
    store.set('s-1');
    store.clear();

    expect(store.get()).toBeNull();
  });

  it('works without storage when the browser blocks it', () => {
    const blocked = {
      getItem() {
        throw new DOMException('denied', 'SecurityError');
      },
      setItem() {
        throw new DOMException('denied', 'SecurityError');
      },
      removeItem() {
        throw new DOMException('denied', 'SecurityError');
      },
    } as unknown as Storage;
    const store = new SessionStore(blocked);

    expect(() => store.set('s')).not.toThrow();
    expect(store.get()).toBeNull();
    expect(() => store.clear()).not.toThrow();
    expect(new SessionStore(null).get()).toBeNull();
  });
});
