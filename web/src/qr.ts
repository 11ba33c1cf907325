import QRCode from 'qrcode';
import { h } from './dom.js';

/**
 * An authenticator enrolment (otpauth:// URI) as a QR code to scan, drawn in the browser: the secret never
 * travels in any form but the one response that carries it.
 */
export function enrolmentQr(uri: string): HTMLElement {
  const image = h('img', { class: 'qr', alt: 'QR code of the authenticator enrolment: scan it with the authenticator app', width: 200, height: 200 });
  void QRCode.toDataURL(uri, { errorCorrectionLevel: 'M', margin: 2, width: 200 }).then((url) => (image.src = url));
  return h('figure', {}, image, h('figcaption', {}, 'Scan with an authenticator app'));
}
