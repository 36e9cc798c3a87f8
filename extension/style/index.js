import './index.css';
import './diff.css';
import './tokens.css';
import './fallback.css';
import './panel.css';
