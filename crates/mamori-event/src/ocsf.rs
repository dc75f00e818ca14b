//! OCSF 1.1 identifiers Mamori uses. Numbers are OCSF's; see
//! `../shared/spec/normalized-schema.md` for where each comes from.

/// OCSF event classes (`class_uid`).
pub mod class {
    /// Base Event: nothing more specific is known (generic JSON, syslog without a known program).
    pub const BASE: u32 = 0;
    /// Detection Finding.
    pub const DETECTION_FINDING: u32 = 2004;
    /// Compliance Finding.
    pub const COMPLIANCE_FINDING: u32 = 2003;
    /// Account Change.
    pub const ACCOUNT_CHANGE: u32 = 3001;
    /// Authentication.
    pub const AUTHENTICATION: u32 = 3002;
    /// Entity Management.
    pub const ENTITY_MANAGEMENT: u32 = 3004;
    /// Network Activity.
    pub const NETWORK_ACTIVITY: u32 = 4001;
    /// HTTP Activity.
    pub const HTTP_ACTIVITY: u32 = 4002;
    /// API Activity.
    pub const API_ACTIVITY: u32 = 6003;
}

/// Common `activity_id` values (class-specific; these are the ones parsers set).
pub mod activity {
    /// Unknown.
    pub const UNKNOWN: u32 = 0;
    /// API Activity / Entity Management / Account Change: Create; Authentication: Logon; Finding: Create.
    pub const CREATE: u32 = 1;
    /// Authentication: Logon.
    pub const LOGON: u32 = 1;
    /// API Activity: Read.
    pub const READ: u32 = 2;
    /// Authentication: Logoff.
    pub const LOGOFF: u32 = 2;
    /// API Activity: Update; Finding: Update.
    pub const UPDATE: u32 = 3;
    /// API Activity: Delete.
    pub const DELETE: u32 = 4;
    /// Network Activity: Refuse.
    pub const REFUSE: u32 = 5;
    /// Network Activity: Traffic.
    pub const TRAFFIC: u32 = 6;
    /// Other.
    pub const OTHER: u32 = 99;
}

/// `severity_id` values.
pub mod severity {
    /// 0 Unknown.
    pub const UNKNOWN: u8 = 0;
    /// 1 Informational.
    pub const INFORMATIONAL: u8 = 1;
    /// 2 Low.
    pub const LOW: u8 = 2;
    /// 3 Medium.
    pub const MEDIUM: u8 = 3;
    /// 4 High.
    pub const HIGH: u8 = 4;
    /// 5 Critical.
    pub const CRITICAL: u8 = 5;
}

/// `status_id` values of the base event.
pub mod status {
    /// 0 Unknown.
    pub const UNKNOWN: u8 = 0;
    /// 1 Success.
    pub const SUCCESS: u8 = 1;
    /// 2 Failure.
    pub const FAILURE: u8 = 2;
    /// 99 Other.
    pub const OTHER: u8 = 99;
}
