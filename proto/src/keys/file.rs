//! The key file format (see the parent module docs for the layout).

use serde::{Deserialize, Serialize};

use super::{KEY_LEN, KeyError, Keypair};

impl Keypair {
    /// The key file text (see the module docs), with a trailing newline.
    pub fn to_key_file(&self) -> String {
        let file = KeyFile {
            key_type: ED25519.to_string(),
            secret: hex::encode(self.seed()),
            node_id: Some(self.public().node_id()),
        };
        // Serializing a struct of three strings cannot fail; fall back to a hand-built
        // document rather than panic, to keep the crate free of panics.
        let mut text = serde_json::to_string(&file).unwrap_or_else(|_| {
            format!(
                "{{\"type\":\"{ED25519}\",\"secret\":\"{}\"}}",
                hex::encode(self.seed())
            )
        });
        text.push('\n');
        text
    }

    /// Reads a key file; every failure names the field to fix.
    pub fn from_key_file(text: &str) -> Result<Self, KeyError> {
        let file: KeyFile =
            serde_json::from_str(text).map_err(|e| KeyError::FileSyntax(e.to_string()))?;
        if file.key_type != ED25519 {
            return Err(KeyError::FileKeyType(file.key_type));
        }
        let mut seed = [0u8; KEY_LEN];
        hex::decode_to_slice(file.secret.trim(), &mut seed)
            .map_err(|e| KeyError::FileSecret(e.to_string()))?;
        let key = Self::from_seed(&seed);
        if let Some(claimed) = file.node_id {
            let actual = key.public().node_id();
            if claimed != actual {
                return Err(KeyError::FileNodeIdMismatch { claimed, actual });
            }
        }
        Ok(key)
    }
}

const ED25519: &str = "ed25519";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    #[serde(rename = "type")]
    key_type: String,
    secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    node_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR_SEED: &str = "7e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d";
    const VECTOR_PEER_ID: &str = "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq";

    #[test]
    fn key_file_round_trips_and_checks_fields() {
        let key = Keypair::generate().unwrap();
        let text = key.to_key_file();
        let back = Keypair::from_key_file(&text).unwrap();
        assert_eq!(back.seed(), key.seed());
        assert!(text.contains(&key.public().node_id()));

        let minimal = format!(r#"{{"type":"ed25519","secret":"{VECTOR_SEED}"}}"#);
        assert_eq!(
            Keypair::from_key_file(&minimal).unwrap().public().node_id(),
            VECTOR_PEER_ID
        );
        assert!(matches!(
            Keypair::from_key_file("not json"),
            Err(KeyError::FileSyntax(_))
        ));
        assert!(matches!(
            Keypair::from_key_file(r#"{"type":"rsa","secret":"00"}"#),
            Err(KeyError::FileKeyType(_))
        ));
        assert!(matches!(
            Keypair::from_key_file(r#"{"type":"ed25519","secret":"abcd"}"#),
            Err(KeyError::FileSecret(_))
        ));
        let lying = format!(
            r#"{{"type":"ed25519","secret":"{VECTOR_SEED}","node_id":"{}"}}"#,
            key.public()
        );
        assert!(matches!(
            Keypair::from_key_file(&lying),
            Err(KeyError::FileNodeIdMismatch { .. })
        ));
    }
}
