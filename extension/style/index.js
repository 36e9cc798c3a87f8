import './index.css';
import './tokens.css';
