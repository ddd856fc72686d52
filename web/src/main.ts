import './styles.css';
import { App } from './app/app';
import { applyTheme, currentTheme } from './app/theme';

applyTheme(currentTheme());
const mount = document.getElementById('app');
if (mount) void new App(mount).start();
