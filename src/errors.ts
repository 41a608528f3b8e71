// One error family for everything dpemu throws at its users (as the yaml library has YAMLError with a
// closed code union): a base class with a stable `code`, and one subclass per kind of mistake. The CLI
// decides what is a user error by class (instanceof DpemuError), never by comparing names.

/** Every code a DpemuError can carry, listed in one place. */
export type DpemuErrorCode = 'MANIFEST' | 'INPUT' | 'CAPACITY' | 'DATAPLANE' | 'USAGE' | 'BENCHMARK' | 'SNAPSHOT';

/** Base of every error dpemu throws on purpose. `code` says which kind it is. */
export class DpemuError extends Error {
  constructor(readonly code: DpemuErrorCode, message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/**
 * A bad packet or call argument. `field` names the packet field or argument (`"packets[3].src"`,
 * `"seconds"`); the message says what was expected.
 */
export class InputError extends DpemuError {
  constructor(message: string, readonly field?: string) {
    super('INPUT', message);
  }
}

/**
 * A map of the dataplane would overfill (or a region of it has no room). `map` names it (`"frontends"`,
 * `"backendSlots"`, ...), `capacity` is its size; raise the matching option of createEmulator.
 */
export class CapacityError extends DpemuError {
  constructor(message: string, readonly map: string, readonly capacity: number) {
    super('CAPACITY', message);
  }
}

/** The dataplane refused a control-plane call (an argument out of range, an unknown algorithm, ...). */
export class DataplaneError extends DpemuError {
  constructor(message: string) {
    super('DATAPLANE', message);
  }
}

/** A snapshot that cannot be restored: another dpemu version or core, or damaged bytes. */
export class SnapshotError extends DpemuError {
  constructor(message: string) {
    super('SNAPSHOT', message);
  }
}

/** A command line that does not make sense (unknown option combination). */
export class UsageError extends DpemuError {
  constructor(message: string) {
    super('USAGE', message);
  }
}
