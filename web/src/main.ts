/**
 * Verity's live demo: the client kit (examples/client-kit) driving a small page. Join the
 * waitlist and watch the position fall; sign up or in; a home timeline where new truths appear
 * and counts move live; compose, react, follow. Plain TypeScript and DOM: every view is a
 * function that builds its elements and returns how to take its live subscriptions down.
 */
import './style.css';
import { CombinedGraphQLErrors } from '@apollo/client';
import {
  CompleteSignUpDocument,
  createTokenStore,
  createVerityClient,
  FollowDocument,
  HomeFeedDocument,
  JoinWaitlistDocument,
  LogInDocument,
  LogOutDocument,
  MeDocument,
  PostTruthDocument,
  ReactDocument,
  RemoveReactionDocument,
  SignUpDocument,
  UserDocument,
  type LiveHandle,
  type ProfileFieldsFragment,
  type TruthFieldsFragment,
} from '../../examples/client-kit/src/index.js';
import { field, form, h } from './dom.js';

// Verity's API: the origin that served the page, unless the page names another (a build hosted
// elsewhere sets <meta name="verity-api" content="https://api.example/graphql">; the dev server
// gets VITE_VERITY_URL).
const httpUrl =
  document.querySelector<HTMLMetaElement>('meta[name="verity-api"]')?.content ||
  (import.meta.env['VITE_VERITY_URL'] as string | undefined) ||
  new URL('/graphql', window.location.href).href;
const tokens = createTokenStore({ storage: window.localStorage });
const kit = createVerityClient({
  httpUrl,
  tokens,
  onSessionEnded: (reason) =>
    say(reason === 'expired' ? 'Your session expired: sign in again.' : 'You were signed out.'),
});

const app = document.querySelector<HTMLDivElement>('#app')!;
const status = h('p', { class: 'status', role: 'status', 'data-testid': 'status' });

function say(message: string, isError = false): void {
  status.textContent = message;
  status.classList.toggle('error', isError);
}

/** Runs a user's action; its failure is shown (Verity's message), never thrown. */
async function attempt(action: () => Promise<void>): Promise<void> {
  say('');
  try {
    await action();
  } catch (error) {
    const message = CombinedGraphQLErrors.is(error)
      ? error.errors.map((e) => e.message).join(' ')
      : error instanceof Error
        ? error.message
        : String(error);
    say(message, true);
  }
}

let stopView: (() => void) | undefined;

/** Draws the page for whoever is signed in now (or nobody). */
async function render(): Promise<void> {
  stopView?.();
  stopView = undefined;
  const main = h('main');
  app.replaceChildren(h('header', { class: 'bar' }, h('h1', {}, 'Verity')), status, main);
  if (!tokens.get()) {
    stopView = welcomeView(main);
    return;
  }
  await attempt(async () => {
    const { data } = await kit.client.query({ query: MeDocument, fetchPolicy: 'network-only' });
    if (data?.me) stopView = homeView(main, data.me);
    else await kit.setSession(null); // a token that no longer signs in; renders again
  });
}
tokens.subscribe(() => void render());

// ---- Signed in: compose, follow, the live home timeline ----

function homeView(main: HTMLElement, me: ProfileFieldsFragment): () => void {
  const bar = app.querySelector('.bar')!;
  const signOut = h('button', { type: 'button', 'data-testid': 'sign-out' }, 'Sign out');
  signOut.addEventListener(
    'click',
    () =>
      void attempt(async () => {
        await kit.client.mutate({ mutation: LogOutDocument }).catch(() => undefined);
        await kit.setSession(null);
      }),
  );
  bar.append(h('span', { 'data-testid': 'signed-in-as' }, `@${me.username}`), signOut);

  const compose = form(
    { class: 'card', 'data-testid': 'compose' },
    (fields, element) =>
      attempt(async () => {
        await kit.client.mutate({
          mutation: PostTruthDocument,
          variables: { input: { text: fields['text'] ?? '', idempotencyKey: crypto.randomUUID() } },
        });
        element.reset();
      }),
    h('textarea', {
      name: 'text',
      maxlength: '1000',
      required: true,
      placeholder: 'What is true?',
    }),
    h('button', { type: 'submit' }, 'Post'),
  );

  const follow = form(
    { class: 'card row', 'data-testid': 'follow' },
    (fields, element) =>
      attempt(async () => {
        const username = (fields['username'] ?? '').replace(/^@/, '');
        const { data } = await kit.client.query({ query: UserDocument, variables: { username } });
        if (!data?.user) throw new Error(`Nobody is called @${username}.`);
        await kit.client.mutate({
          mutation: FollowDocument,
          variables: { input: { userId: data.user.id } },
        });
        say(`You follow @${data.user.username}: their truths arrive in your timeline.`);
        element.reset();
      }),
    field('Follow', 'username', 'text', { placeholder: 'username' }),
    h('button', { type: 'submit' }, 'Follow'),
  );

  const timeline = h('ol', { class: 'timeline', 'data-testid': 'timeline' });
  main.append(compose, follow, h('h2', {}, 'Home'), timeline);

  // Counts of the truths on screen stay live; a truth that leaves the screen stops its watch.
  const countWatches = new Map<string, LiveHandle>();
  const watchCountsOf = (ids: Set<string>) => {
    for (const [id, watch] of countWatches) {
      if (!ids.has(id)) {
        watch.stop();
        countWatches.delete(id);
      }
    }
    for (const id of ids) if (!countWatches.has(id)) countWatches.set(id, kit.watchCounts(id));
  };

  // Truths drawn before: only a new arrival is highlighted when the list is drawn again.
  const shown = new Set<string>();
  let stopped = false;
  let feed: { unsubscribe(): void } | undefined;
  let live: LiveHandle | undefined;
  void attempt(async () => {
    // The first page, then the live feed from its newest truth: nothing falls in between.
    await kit.client.query({ query: HomeFeedDocument, fetchPolicy: 'network-only' });
    if (stopped) return;
    feed = kit.client.watchQuery({ query: HomeFeedDocument }).subscribe((result) => {
      if (result.dataState !== 'complete') return;
      const truths = result.data.homeFeed.edges.map((edge) => edge.node);
      timeline.replaceChildren(
        ...(truths.length > 0
          ? truths.map((truth) => truthItem(truth, !shown.has(truth.id)))
          : [h('li', { class: 'empty' }, 'Nothing yet: post a truth, or follow someone.')]),
      );
      for (const truth of truths) shown.add(truth.id);
      watchCountsOf(new Set(truths.map((truth) => truth.id)));
    });
    live = kit.followFeed({ feed: 'homeFeed' }, { onError: (error) => say(error.message, true) });
  });

  return () => {
    stopped = true;
    feed?.unsubscribe();
    live?.stop();
    for (const watch of countWatches.values()) watch.stop();
  };
}

function truthItem(truth: TruthFieldsFragment, isNew: boolean): HTMLLIElement {
  const liked = truth.viewerReaction !== null;
  const react = h(
    'button',
    {
      type: 'button',
      class: liked ? 'react on' : 'react',
      'aria-pressed': String(liked),
      'data-testid': 'react',
    },
    `♥ ${truth.counts.reactions}`,
  );
  react.addEventListener(
    'click',
    () =>
      void attempt(async () => {
        const input = { truthId: truth.id };
        if (liked)
          await kit.client.mutate({ mutation: RemoveReactionDocument, variables: { input } });
        else
          await kit.client.mutate({
            mutation: ReactDocument,
            variables: { input: { ...input, kind: 'LIKE' } },
          });
      }),
  );
  return h(
    'li',
    { class: isNew ? 'truth new' : 'truth', 'data-testid': 'truth', 'data-truth-id': truth.id },
    h(
      'div',
      { class: 'meta' },
      h('strong', {}, truth.author.displayName),
      h('span', { class: 'handle' }, `@${truth.author.username}`),
      h('time', { datetime: truth.createdAt }, new Date(truth.createdAt).toLocaleTimeString()),
    ),
    h('p', { class: 'text' }, truth.text),
    h(
      'div',
      { class: 'actions' },
      react,
      h('span', {}, `${truth.counts.replies} replies · ${truth.counts.retruths} retruths`),
    ),
  );
}

// ---- Signed out: sign in, sign up, or wait on the waitlist ----

const ticketKey = 'verity.ticketToken';

function welcomeView(main: HTMLElement): () => void {
  const signIn = form(
    { class: 'card', 'data-testid': 'sign-in' },
    (fields) =>
      attempt(async () => {
        const { data } = await kit.client.mutate({
          mutation: LogInDocument,
          variables: {
            input: { login: fields['login'] ?? '', password: fields['password'] ?? '' },
          },
        });
        if (data) await kit.setSession(data.logIn.token);
      }),
    h('h2', {}, 'Sign in'),
    field('Username or email', 'login'),
    field('Password', 'password', 'password'),
    h('button', { type: 'submit' }, 'Sign in'),
  );

  const waitlist = h('section', { class: 'card', 'data-testid': 'waitlist' });
  let watch: LiveHandle | undefined;
  const showTicket = (ticketToken: string) => {
    window.localStorage.setItem(ticketKey, ticketToken);
    const ticket = h('span', {}, 'Your ticket');
    const position = h('strong', { 'data-testid': 'waitlist-position' }, '…');
    const complete = form(
      { 'data-testid': 'complete-sign-up', hidden: true },
      (fields) =>
        attempt(async () => {
          const { data } = await kit.client.mutate({
            mutation: CompleteSignUpDocument,
            variables: { input: { ticketToken, password: fields['password'] ?? '' } },
          });
          if (!data) return;
          window.localStorage.removeItem(ticketKey);
          await kit.setSession(data.completeSignUp.token);
        }),
      h('p', {}, 'You are in! Choose a password to finish.'),
      field('Password', 'password', 'password', { minlength: '10' }),
      h('button', { type: 'submit' }, 'Create my account'),
    );
    waitlist.replaceChildren(
      h('h2', {}, 'On the waitlist'),
      h('p', {}, ticket, '. People ahead of you, yourself included: ', position),
      complete,
    );
    watch?.stop();
    watch = kit.watchWaitlist(ticketToken, {
      next: (update) => {
        ticket.textContent = `Ticket #${update.ticket}`;
        position.textContent = String(update.position);
        if (update.admitted) complete.hidden = false;
      },
      error: () => {
        // An unknown or expired ticket: the next visit offers the join form again.
        window.localStorage.removeItem(ticketKey);
        say('The waitlist ticket was not accepted.', true);
      },
    });
  };

  const signUp = form(
    { class: 'card', 'data-testid': 'sign-up' },
    (fields) =>
      attempt(async () => {
        const { data } = await kit.client.mutate({
          mutation: SignUpDocument,
          variables: {
            input: {
              username: fields['username'] ?? '',
              email: fields['email'] ?? '',
              password: fields['password'] ?? '',
            },
          },
        });
        const result = data?.signUp;
        if (result?.__typename === 'Session') await kit.setSession(result.token);
        else if (result?.__typename === 'WaitlistTicket' && result.ticketToken) {
          say('Verity is full right now: you are on the waitlist.');
          showTicket(result.ticketToken);
        }
      }),
    h('h2', {}, 'Sign up'),
    field('Username', 'username'),
    field('Email', 'email', 'email'),
    field('Password', 'password', 'password', { minlength: '10' }),
    h('button', { type: 'submit' }, 'Sign up'),
  );

  const join = form(
    { 'data-testid': 'join-waitlist' },
    (fields) =>
      attempt(async () => {
        const { data } = await kit.client.mutate({
          mutation: JoinWaitlistDocument,
          variables: {
            input: { email: fields['email'] ?? '', username: fields['username'] ?? '' },
          },
        });
        if (!data) return;
        const { ticket, ticketToken } = data.joinWaitlist;
        if (ticketToken) showTicket(ticketToken);
        else say(`You hold ticket #${ticket}; its token was mailed to you.`);
      }),
    h('h2', {}, 'Join the waitlist'),
    field('Email', 'email', 'email'),
    field('Username', 'username'),
    h('button', { type: 'submit' }, 'Join'),
  );
  waitlist.append(join);

  main.append(h('div', { class: 'columns' }, signIn, signUp, waitlist));
  // A ticket from an earlier visit: its first event says where it stands.
  const saved = window.localStorage.getItem(ticketKey);
  if (saved) showTicket(saved);
  return () => watch?.stop();
}

void render();
