/**
 * The web addresses the API gives in its `url` fields, all under `PUBLIC_URL` (where people
 * reach Verity): a profile at `/@<username>`, a truth at `/@<username>/truths/<id>` with the
 * truth's global ID as it is. Usernames are letters, digits and underscores and global IDs are
 * base64url, so neither needs escaping; a username never changes, so neither address does.
 */
export function createLinks(publicUrl: string) {
  const base = publicUrl.replace(/\/+$/, '');
  return {
    user: (username: string) => `${base}/@${username}`,
    truth: (authorUsername: string, truthId: string) =>
      `${base}/@${authorUsername}/truths/${truthId}`,
  };
}

export type Links = ReturnType<typeof createLinks>;
