import './style.css';
import { ChatApp } from './chatApp';
import { ChatClient } from './services/chatClient';
import { SessionStore, browserStorage } from './session';

void new ChatApp(document, new ChatClient(), new SessionStore(browserStorage())).start();
