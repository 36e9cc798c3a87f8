import './index.css';
import './diff.css';
