//! Names for the ids in the archive: external contacts and groups looked up in WeCom's directory
//! APIs ([`client`]) by a fetcher beside the pipeline ([`resolver`]), kept in `we_customer`,
//! `we_group` and `we_group_member` on either store. Members are named by the organisation
//! (`sys_user`) the rules carry.

pub mod client;
pub mod resolver;

pub use client::{CorpCredentials, DirectoryClient, LookupError};
pub use resolver::{NamesSettings, PassReport, pass};
