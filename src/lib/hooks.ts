/** A step that follows a write; it must be idempotent (see infra/effects.ts). */
export type HookEffect = () => Promise<void>;

/**
 * After-write hooks between modules: a module that writes announces what it wrote (`effectsOf`)
 * and another module that keeps something derived from it registers a handler (`on`), so the
 * writer never imports the module that follows it. A handler returns the effects to run, in
 * order, as part of the writer's own effects: they are retried and journalled with them.
 */
export interface Hooks<M extends object> {
  on<K extends keyof M>(name: K, handler: (payload: M[K]) => HookEffect[]): void;
  /** The effects every handler of `name` wants for `payload`, in registration order. */
  effectsOf<K extends keyof M>(name: K, payload: M[K]): HookEffect[];
}

export function createHooks<M extends object>(): Hooks<M> {
  const handlers = new Map<keyof M, ((payload: never) => HookEffect[])[]>();
  return {
    on(name, handler) {
      handlers.set(name, [...(handlers.get(name) ?? []), handler]);
    },
    effectsOf(name, payload) {
      return (handlers.get(name) ?? []).flatMap((handler) => handler(payload as never));
    },
  };
}
