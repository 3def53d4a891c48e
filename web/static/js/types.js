// The wire types the client uses, named once. They are generated from the server's protocol
// crate (web/types/*.d.ts, by web/scripts/gen-types.mjs), never written by hand; only the
// per-kind `position` payloads, which the schema leaves open, are described in boards/.

/** @typedef {import('../../types/protocol').ClientMessage} ClientMessage */
/** @typedef {import('../../types/protocol').ServerMessage} ServerMessage */
/** @typedef {import('../../types/protocol').WelcomeMessage} WelcomeMessage */
/** @typedef {import('../../types/protocol').SubscribedMessage} SubscribedMessage */
/** @typedef {import('../../types/protocol').EventMessage} EventMessage */
/** @typedef {import('../../types/protocol').TicksMessage} TicksMessage */
/** @typedef {import('../../types/protocol').MoveAckMessage} MoveAckMessage */
/** @typedef {import('../../types/protocol').ActionAckMessage} ActionAckMessage */
/** @typedef {import('../../types/protocol').ErrorMessage} ErrorMessage */
/** @typedef {import('../../types/protocol').EventEnvelope} EventEnvelope */
/** @typedef {import('../../types/protocol').GameEvent} GameEvent */
/** @typedef {import('../../types/protocol').GameView} GameView */
/** @typedef {import('../../types/protocol').Participant} Participant */
/** @typedef {import('../../types/protocol').MoveEntry} MoveEntry */
/** @typedef {import('../../types/protocol').Clocks} Clocks */
/** @typedef {import('../../types/protocol').GameResult} GameResult */
/** @typedef {import('../../types/protocol').GameSettings} GameSettings */
/** @typedef {import('../../types/protocol').Role} Role */
/** @typedef {import('../../types/protocol').ErrorCode} ErrorCode */
/** @typedef {import('../../types/protocol').DrawAction} DrawAction */
/** @typedef {import('../../types/protocol').SessionState} SessionState */
/** @typedef {import('../../types/protocol').PublicPlayer} PublicPlayer */

/** @typedef {import('../../types/rest').components['schemas']} Schemas */
/** @typedef {Schemas['AuthResponse']} AuthResponse */
/** @typedef {Schemas['Me']} Me */
/** @typedef {Schemas['GameList']} GameList */
/** @typedef {Schemas['GameSummary']} GameSummary */
/** @typedef {Schemas['CreateGameRequest']} CreateGameRequest */
/** @typedef {Schemas['KindInfo']} KindInfo */
/** @typedef {Schemas['KindList']} KindList */
/** @typedef {Schemas['Problem']} Problem */
/** @typedef {Schemas['FieldError']} FieldError */
/** @typedef {Schemas['RegisterRequest']} RegisterRequest */
/** @typedef {Schemas['LoginRequest']} LoginRequest */
/** @typedef {Schemas['ActionAck']} ActionAck */
/** @typedef {Schemas['Ticket']} Ticket */
/** @typedef {Schemas['TicketRequest']} TicketRequest */
/** @typedef {Schemas['FriendList']} FriendList */
/** @typedef {Schemas['Friend']} Friend */
/** @typedef {Schemas['FriendRequest']} FriendRequest */
/** @typedef {Schemas['FriendRequestResult']} FriendRequestResult */
/** @typedef {Schemas['Presence']} Presence */
/** @typedef {Schemas['Invite']} Invite */
/** @typedef {Schemas['InviteLink']} InviteLink */
/** @typedef {Schemas['InviteLinkInfo']} InviteLinkInfo */
/** @typedef {Schemas['InviteList']} InviteList */
/** @typedef {Schemas['InviteAccepted']} InviteAccepted */
/** @typedef {Schemas['Notification']} Notification */
/** @typedef {Schemas['NotificationPage']} NotificationPage */
/** @typedef {Schemas['NotificationsMarked']} NotificationsMarked */

export {};
