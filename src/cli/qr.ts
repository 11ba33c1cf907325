import QRCode from 'qrcode';

/**
 * An otpauth:// enrolment as a QR code drawn with block characters, for an authenticator app to scan off the
 * terminal: typing a 32-character base32 secret by hand is where enrolments go wrong.
 */
export function terminalQr(uri: string): Promise<string> {
  return QRCode.toString(uri, { type: 'terminal', small: true, errorCorrectionLevel: 'M' });
}
