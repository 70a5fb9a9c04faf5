//! First start and configuration.
use tessera::server::{self, clock::Clock, config::Config};

use crate::on_both_databases;
use crate::support::{Backend, TestApp};

async fn the_installation_id_is_made_once_and_kept(backend: Backend) {
    let app = TestApp::start(backend).await;
    let first = app.state.installation_id.to_string();
    assert_eq!(
        uuid::Uuid::parse_str(&first).map(|u| u.get_version_num()),
        Ok(4)
    );
    // Starting again on the same database finds the same installation, tenant and administrator.
    let config = (*app.state.config).clone();
    let again = server::prepare(config, Clock::default()).await.unwrap();
    assert_eq!(&*again.installation_id, first.as_str());
    let tenants = tessera::tenants::store::all(&again.db).await.unwrap();
    assert_eq!(tenants.len(), 1);
    assert!(tenants[0].is_default);
    assert_eq!(tenants[0].name, "Default");
    again.db.close().await.ok();
    app.admin().await;
    app.stop().await;
}

on_both_databases!(the_installation_id_is_made_once_and_kept);

#[tokio::test]
async fn an_unreachable_database_stops_start_up_naming_it() {
    let config = Config::from_lookup(|k| {
        (k == "TESSERA_DATABASE_URL").then(|| "postgres://nobody@127.0.0.1:1/none".to_string())
    })
    .unwrap();
    let err = match server::prepare(config, Clock::default()).await {
        Ok(_) => panic!("started on an unreachable database"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.starts_with("TESSERA_DATABASE_URL: cannot connect"),
        "{err}"
    );
    assert!(!err.contains('\n'), "one line: {err}");
}
