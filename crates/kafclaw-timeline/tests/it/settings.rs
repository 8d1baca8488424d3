//! Runtime settings.

use kafclaw_timeline::{Error, SettingKey};

use crate::support::open;

#[tokio::test]
async fn known_keys_are_stored_normalised() {
    let t = open().await;
    let s = t
        .set_setting("daily_token_limit", " 100000 ")
        .await
        .unwrap();
    assert_eq!(s.value, "100000");
    assert!(!s.secret);
    assert_eq!(t.daily_token_limit().await.unwrap(), 100_000);
    t.set_setting("daily_token_limit", "").await.unwrap();
    assert_eq!(t.daily_token_limit().await.unwrap(), 0);

    let s = t
        .set_setting("whatsapp_pair_token", "s3cret")
        .await
        .unwrap();
    assert!(s.secret);
    t.set_setting("group_name", "team-a").await.unwrap();
    let all = t.list_settings().await.unwrap();
    assert_eq!(
        all.iter().map(|s| s.key.as_str()).collect::<Vec<_>>(),
        ["daily_token_limit", "group_name", "whatsapp_pair_token"]
    );
    assert_eq!(
        t.get_setting("group_name").await.unwrap().unwrap().value,
        "team-a"
    );
    assert!(t.delete_setting("group_name").await.unwrap());
    assert!(!t.delete_setting("group_name").await.unwrap());
    assert_eq!(t.get_setting("group_name").await.unwrap(), None);
}

#[tokio::test]
async fn unknown_keys_are_refused_with_the_list_of_known_ones() {
    let t = open().await;
    let err = t.set_setting("dialy_token_limit", "5").await.unwrap_err();
    assert!(matches!(&err, Error::UnknownSetting { key, .. } if key == "dialy_token_limit"));
    let msg = err.to_string();
    for k in SettingKey::ALL {
        assert!(msg.contains(k.as_str()), "{msg}");
    }
    assert!(t.get_setting("nope").await.is_err());
    assert!(t.delete_setting("nope").await.is_err());
    assert!(t.list_settings().await.unwrap().is_empty());
}

#[tokio::test]
async fn invalid_values_name_the_key_and_change_nothing() {
    let t = open().await;
    t.set_setting("silent_mode", "false").await.unwrap();
    let err = t.set_setting("silent_mode", "maybe").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidSetting {
                key: "silent_mode",
                ..
            }
        ),
        "{err}"
    );
    assert!(!t.silent_mode().await.unwrap());
    let err = t
        .set_setting("bot_repo_path", "relative")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("bot_repo_path"), "{err}");
}

#[tokio::test]
async fn typed_defaults() {
    let t = open().await;
    assert!(t.silent_mode().await.unwrap(), "silent by default");
    assert!(!t.group_active().await.unwrap());
    assert_eq!(t.daily_token_limit().await.unwrap(), 0);
    t.set_setting("group_active", "True").await.unwrap();
    assert!(t.group_active().await.unwrap());
}
