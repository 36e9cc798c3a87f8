import './index.css';
import './fallback.css';
