/** Events of the follows module; the key is the id of the user whose relations changed. */
export interface RelationTopics {
  /** The user followed, unfollowed, blocked, unblocked, muted or unmuted someone, or was blocked. */
  relationsChanged: { userId: string };
}
