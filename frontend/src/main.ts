// The page's entry point: the chat panel on this document, talking to the backend through the
// real client, with the session kept in the browser's storage.
import './style.css';
import { ChatApp } from './chatApp';
import { ChatClient } from './services/chatClient';
import { SessionStore, browserStorage } from './session';

void new ChatApp(document, new ChatClient(), new SessionStore(browserStorage())).start();
