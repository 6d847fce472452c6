/** The part of the server's (pino) logger the alert code uses; tests pass a recorder or nothing. */
export interface AlertLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}
