// The errors `coe` reports. Each carries the exit status: 2 for a command line that cannot be
// run, 1 for everything else (the server refused, an operation failed, a file exists).

/** A bad command line: wrong option values, unknown columns, conflicting flags. Exit status 2. */
export class UsageError extends Error {
  readonly exitCode = 2;
}

/** Anything that stops a command after it was understood. Exit status 1. */
export class CommandError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** The API (or Keystone) answered with an error status. */
export class ApiError extends CommandError {
  readonly status: number;
  readonly requestId: string | null;
  readonly title: string;

  constructor(status: number, title: string, detail: string, requestId: string | null) {
    super(detail || title || `HTTP ${status}`);
    this.status = status;
    this.title = title;
    this.requestId = requestId;
  }

  /** As the OpenStack client prints it: `<message> (HTTP 404) (Request-ID: req-…)`. */
  describe(): string {
    return `${this.message.replace(/\.$/, '')} (HTTP ${this.status})${this.requestId ? ` (Request-ID: ${this.requestId})` : ''}`;
  }
}

/** A `--wait` that saw the operation end in *_FAILED (or time out). */
export class OperationFailed extends CommandError {}
