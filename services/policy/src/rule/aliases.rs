//! Policy aliases: the names a condition's `field` uses for resource properties, and the property each stands for.
//!
//! An alias is `{resource type}/{property path}`. For the resource types below, the property path is the alias's
//! path under `properties`, except for the aliases listed as renamed:
//!
//! | Alias | Resource property |
//! |---|---|
//! | `Microsoft.KubernetesConfiguration/fluxConfigurations/<path>` | `properties.<path>` |
//! | `Microsoft.KubernetesConfiguration/fluxConfigurations/gitRepository.httpsCAFile` | `properties.gitRepository.httpsCACert` |
//! | `Microsoft.KubernetesConfiguration/extensions/<path>` | `properties.<path>` |
//! | `Microsoft.KubernetesConfiguration/sourceControlConfigurations/<path>` | `properties.<path>` |
//!
//! The one rename is used by the built-in HTTPS and HTTPS-CA-certificate definitions (bf1a31be…, 2630c91f…): their
//! templates write `properties.gitRepository.httpsCACert` and their existence conditions read the alias
//! `…/gitRepository.httpsCAFile`. Every other alias the eleven GitOps built-ins use (`scope`, `namespace`,
//! `gitRepository.url`, `gitRepository.repositoryRef.branch`, `bucket.insecure`, `extensionType`,
//! `autoUpgradeMinorVersion`, `provisioningState`, `operatorParams`, `helmOperatorProperties.chartVersion`, ...) is
//! its property path.
//!
//! An alias of any other resource type is refused when the definition is read (this service only evaluates the
//! Kubernetes configuration resources), rather than silently reading as absent. Alias names compare
//! case-insensitively, as Azure's do.

/// Resource types whose aliases map to `properties.<path>`.
pub const ALIASED_RESOURCE_TYPES: [&str; 3] = [
    "Microsoft.KubernetesConfiguration/fluxConfigurations",
    "Microsoft.KubernetesConfiguration/extensions",
    "Microsoft.KubernetesConfiguration/sourceControlConfigurations",
];

/// Aliases whose property is not `properties.<alias path>`: `(alias, property path)`.
pub const RENAMED_ALIASES: [(&str, &str); 1] = [(
    "Microsoft.KubernetesConfiguration/fluxConfigurations/gitRepository.httpsCAFile",
    "properties.gitRepository.httpsCACert",
)];

/// What an alias resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedAlias {
    /// The resource type the alias belongs to, as spelled in [`ALIASED_RESOURCE_TYPES`].
    pub resource_type: &'static str,
    /// The dotted property path in the resource JSON (`properties.gitRepository.url`), possibly with `[*]`.
    pub property_path: String,
}

/// Resolves `alias`, or `None` if it is not an alias of a known resource type.
pub fn resolve_alias(alias: &str) -> Option<ResolvedAlias> {
    let resource_type = ALIASED_RESOURCE_TYPES.iter().find(|t| {
        alias.len() > t.len() + 1
            && alias.is_char_boundary(t.len())
            && alias[..t.len()].eq_ignore_ascii_case(t)
            && alias.as_bytes()[t.len()] == b'/'
    })?;
    let property_path = match RENAMED_ALIASES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(alias))
    {
        Some((_, property)) => (*property).to_owned(),
        None => format!("properties.{}", &alias[resource_type.len() + 1..]),
    };
    Some(ResolvedAlias {
        resource_type,
        property_path,
    })
}

#[cfg(test)]
mod tests {
    use super::resolve_alias;

    #[test]
    fn maps_aliases_to_properties() {
        let alias =
            resolve_alias("Microsoft.KubernetesConfiguration/fluxConfigurations/gitRepository.url").unwrap();
        assert_eq!(alias.property_path, "properties.gitRepository.url");
        assert_eq!(
            alias.resource_type,
            "Microsoft.KubernetesConfiguration/fluxConfigurations"
        );
        let renamed =
            resolve_alias("microsoft.kubernetesconfiguration/fluxconfigurations/gitRepository.HTTPSCAFILE");
        assert_eq!(
            renamed.unwrap().property_path,
            "properties.gitRepository.httpsCACert"
        );
        let extension =
            resolve_alias("Microsoft.KubernetesConfiguration/extensions/autoUpgradeMinorVersion").unwrap();
        assert_eq!(extension.property_path, "properties.autoUpgradeMinorVersion");
        assert!(resolve_alias("Microsoft.Compute/virtualMachines/osProfile.adminUsername").is_none());
        assert!(resolve_alias("Microsoft.KubernetesConfiguration/extensions/").is_none());
    }
}
