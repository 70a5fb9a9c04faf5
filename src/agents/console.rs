//! Server functions of Settings > Agents. Each checks its caller first.
use leptos::prelude::*;

use super::model::{AgentDetail, AgentsListing};
use crate::error::AppError;

/// A page of the agents (50, by machine id), of one tenant or of all.
#[server(endpoint = "agents/list")]
pub async fn list_agents(
    tenant: Option<String>,
    page: Option<u64>,
) -> Result<AgentsListing, AppError> {
    use crate::auth::server::{cap::BindAgents, require};
    let who = require::<BindAgents>()?;
    let tenant = tenant.filter(|t| !t.is_empty());
    let mut listing = super::manage::listing(
        who.db(),
        &who,
        tenant.as_deref(),
        page.unwrap_or(1),
        who.now(),
    )
    .await?;
    // Written every second; what this instance counted since, too.
    for a in &mut listing.agents {
        a.refused_count += who.ledger().refusals().pending(&a.id);
    }
    Ok(listing)
}

#[server(endpoint = "agents/get")]
pub async fn get_agent(agent_id: String) -> Result<AgentDetail, AppError> {
    use crate::auth::server::{cap::BindAgents, require};
    let who = require::<BindAgents>()?;
    let mut detail = super::manage::detail(who.db(), &who, &agent_id, who.now()).await?;
    detail.agent.refused_count += who.ledger().refusals().pending(&detail.agent.id);
    Ok(detail)
}

/// Binds a fixed license to an agent for good: `understood` must be set (the form's "cannot be
/// undone" box).
#[server(endpoint = "agents/bind")]
pub async fn bind_agent_license(
    agent_id: String,
    license_id: String,
    understood: Option<String>,
) -> Result<(), AppError> {
    use crate::audit::{model::AuditKind, store::audited};
    let subject = agent_id.clone();
    audited(
        AuditKind::AgentBind,
        subject,
        bind(agent_id, license_id, understood),
    )
    .await
}

#[cfg(feature = "ssr")]
async fn bind(
    agent_id: String,
    license_id: String,
    understood: Option<String>,
) -> Result<(), AppError> {
    use crate::auth::server::{cap::BindAgents, require};
    use crate::error::{Field, Problem};
    let who = require::<BindAgents>()?;
    if license_id.trim().is_empty() {
        return Err(AppError::invalid(Field::License, Problem::Required));
    }
    if understood
        .as_deref()
        .is_none_or(|u| u.is_empty() || u == "false")
    {
        return Err(AppError::invalid(Field::Confirmation, Problem::Required));
    }
    crate::ledger::holdings::bind(who.ledger(), &who, &agent_id, license_id.trim(), who.now())
        .await?;
    tracing::info!(by = %who.viewer().name, agent = %agent_id, license = %license_id, "fixed license bound");
    leptos_axum::redirect(&format!("/settings/agents/{agent_id}?done=bound"));
    Ok(())
}

/// Borrows the agent's floating license for `hours` (taking one first when it holds none): its
/// next checkout's lease runs that long, so it may work with no connection at all.
#[server(endpoint = "agents/borrow")]
pub async fn borrow_agent_license(agent_id: String, hours: String) -> Result<(), AppError> {
    use crate::audit::{model::AuditKind, store::audited};
    use crate::auth::server::{cap::BindAgents, require};
    use crate::ledger::borrowing::{Borrower, borrow};
    audited(AuditKind::AgentBorrow, agent_id.clone(), async move {
        let who = require::<BindAgents>()?;
        let hours = super::model::parse_borrow_hours(&hours)?;
        borrow(
            who.ledger(),
            Borrower::Administrator(&who),
            &agent_id,
            hours,
            who.now(),
        )
        .await?;
        tracing::info!(by = %who.viewer().name, agent = %agent_id, hours, "license borrowed");
        leptos_axum::redirect(&format!("/settings/agents/{agent_id}?done=borrowed"));
        Ok(())
    })
    .await
}

/// Shuts an agent down; its floating license returns to the pool.
#[server(endpoint = "agents/shut_down")]
pub async fn shut_down_agent(agent_id: String) -> Result<(), AppError> {
    use crate::audit::{model::AuditKind, store::audited};
    use crate::auth::server::{cap::BindAgents, require};
    audited(AuditKind::AgentShutDown, agent_id.clone(), async move {
        let who = require::<BindAgents>()?;
        crate::ledger::holdings::shut_down(who.ledger(), &who, &agent_id, who.now()).await?;
        tracing::info!(by = %who.viewer().name, agent = %agent_id, "agent shut down");
        Ok(())
    })
    .await
}

/// Deletes an agent; the licenses bound to it end.
#[server(endpoint = "agents/delete")]
pub async fn delete_agent(agent_id: String) -> Result<(), AppError> {
    use crate::audit::{model::AuditKind, store::audited};
    use crate::auth::server::{cap::DeleteAgents, require};
    audited(AuditKind::AgentDelete, agent_id.clone(), async move {
        let who = require::<DeleteAgents>()?;
        crate::ledger::holdings::delete(who.ledger(), &who, &agent_id, who.now()).await?;
        tracing::info!(by = %who.viewer().name, agent = %agent_id, "agent deleted");
        leptos_axum::redirect("/settings/agents?done=deleted");
        Ok(())
    })
    .await
}

/// Revokes an agent's token and lets its machine register once more with the enrollment key
/// (a machine rebuilt, a token lost or stolen). Administrators only.
#[server(endpoint = "agents/reset_registration")]
pub async fn reset_agent_registration(agent_id: String) -> Result<(), AppError> {
    use crate::audit::{model::AuditKind, store::audited};
    use crate::auth::server::{cap::DeleteAgents, require};
    audited(
        AuditKind::AgentResetRegistration,
        agent_id.clone(),
        async move {
            let who = require::<DeleteAgents>()?;
            crate::ledger::holdings::reset_registration(who.ledger(), &who, &agent_id, who.now())
                .await?;
            tracing::info!(by = %who.viewer().name, agent = %agent_id, "agent registration reset");
            leptos_axum::redirect(&format!("/settings/agents/{agent_id}?done=reset"));
            Ok(())
        },
    )
    .await
}
