//! The things an event is about — who, from where, in which account, with
//! which key, on what — as findings and the forensic views name them.

use serde::{Deserialize, Serialize};

use crate::Event;

/// What an [`Entity`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// A user or principal: ARN, object id or name.
    User,
    /// An IP address.
    Ip,
    /// An account, subscription, tenant or project.
    Account,
    /// An access key or credential id.
    AccessKey,
    /// A resource acted on: ARN, name or id.
    Resource,
}

impl EntityKind {
    /// Every kind, in a stable order.
    pub const ALL: [EntityKind; 5] = [
        EntityKind::User,
        EntityKind::Ip,
        EntityKind::Account,
        EntityKind::AccessKey,
        EntityKind::Resource,
    ];

    /// The snake_case name (`access_key`).
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::User => "user",
            EntityKind::Ip => "ip",
            EntityKind::Account => "account",
            EntityKind::AccessKey => "access_key",
            EntityKind::Resource => "resource",
        }
    }

    /// The kind named `s` (as [`EntityKind::as_str`] writes it).
    pub fn parse(s: &str) -> Option<EntityKind> {
        EntityKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The kind a correlation's group-by field most likely holds, from its
    /// name and value: `sourceIPAddress` → IP, `userIdentity.arn` → user.
    pub fn guess(field: &str, value: &str) -> Option<EntityKind> {
        let f = field.to_ascii_lowercase();
        if value.parse::<std::net::IpAddr>().is_ok() {
            Some(EntityKind::Ip)
        } else if f.contains("accesskey") || f.contains("credential") {
            Some(EntityKind::AccessKey)
        } else if f.contains("account") || f.contains("subscription") || f.contains("tenant") {
            Some(EntityKind::Account)
        } else if f.contains("user") || f.contains("arn") || f.contains("principal") {
            Some(EntityKind::User)
        } else if f.contains("resource") || f.contains("bucket") || f.contains("instance") {
            Some(EntityKind::Resource)
        } else {
            None
        }
    }
}

/// One thing an event or a finding is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Entity {
    /// What it is.
    pub kind: EntityKind,
    /// Its identifier as the source wrote it.
    pub value: String,
}

impl Entity {
    /// An entity of `kind` named `value`.
    pub fn new(kind: EntityKind, value: impl Into<String>) -> Entity {
        Entity {
            kind,
            value: value.into(),
        }
    }
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.kind.as_str(), self.value)
    }
}

impl Event {
    /// The event's entities, sorted and without repeats: the actor (its
    /// stable id, else its name), the source IP, the accounts, the access
    /// key, and the resources acted on.
    pub fn entities(&self) -> Vec<Entity> {
        let mut out = Vec::new();
        let mut push = |kind, v: &Option<String>| {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                out.push(Entity::new(kind, v));
            }
        };
        push(
            EntityKind::User,
            if self.actor.user_uid.is_some() {
                &self.actor.user_uid
            } else {
                &self.actor.user_name
            },
        );
        push(EntityKind::Ip, &self.src.ip);
        push(EntityKind::Account, &self.actor.account_uid);
        push(EntityKind::Account, &self.cloud.account_uid);
        push(EntityKind::AccessKey, &self.actor.credential_uid);
        for r in &self.resources {
            push(
                EntityKind::Resource,
                if r.uid.is_some() { &r.uid } else { &r.name },
            );
        }
        out.sort();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SourceKind, Timestamp};

    #[test]
    fn an_event_names_its_actor_ip_accounts_key_and_resources() {
        let mut e = Event::new(SourceKind::Cloudtrail, Timestamp(0), "{}".into());
        e.actor.user_name = Some("alice".into());
        e.actor.user_uid = Some("arn:aws:iam::111122223333:user/alice".into());
        e.actor.account_uid = Some("111122223333".into());
        e.cloud.account_uid = Some("111122223333".into());
        e.actor.credential_uid = Some("AKIAEXAMPLE".into());
        e.src.ip = Some("203.0.113.9".into());
        let got: Vec<String> = e.entities().iter().map(|x| x.to_string()).collect();
        assert_eq!(
            got,
            [
                "user=arn:aws:iam::111122223333:user/alice",
                "ip=203.0.113.9",
                "account=111122223333",
                "access_key=AKIAEXAMPLE",
            ]
        );
    }

    #[test]
    fn group_fields_are_guessed_by_name_and_value() {
        assert_eq!(
            EntityKind::guess("sourceIPAddress", "10.0.0.1"),
            Some(EntityKind::Ip)
        );
        assert_eq!(
            EntityKind::guess("userIdentity.arn", "arn:aws:iam::1:user/x"),
            Some(EntityKind::User)
        );
        assert_eq!(
            EntityKind::guess("userIdentity.accessKeyId", "AKIA"),
            Some(EntityKind::AccessKey)
        );
        assert_eq!(EntityKind::guess("eventName", "GetObject"), None);
        for k in EntityKind::ALL {
            assert_eq!(EntityKind::parse(k.as_str()), Some(k));
        }
    }
}
