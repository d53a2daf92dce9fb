// The conversation's session id survives reloads in localStorage, so the history comes back.
// Storage can be unavailable (private modes, blocked cookies): the chat then still works,
// only without restoring.

const KEY = 'rag-chatbot.session-id';

export class SessionStore {
  constructor(private readonly storage: Storage | null) {}

  get(): string | null {
    try {
      return this.storage?.getItem(KEY) ?? null;
    } catch {
      return null;
    }
  }

  set(sessionId: string): void {
    try {
      this.storage?.setItem(KEY, sessionId);
    } catch {
      // Not persisted: this conversation simply won't be restored after a reload.
    }
  }

  clear(): void {
    try {
      this.storage?.removeItem(KEY);
    } catch {
      // Nothing stored, so nothing to forget.
    }
  }
}

/** `window.localStorage` itself throws when storage is blocked. */
export function browserStorage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}
