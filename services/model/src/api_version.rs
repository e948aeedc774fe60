//! The api-versions each resource type serves, and the ARM errors for a missing or unknown one.

use crate::error::{ArmError, codes};
use crate::ids::ResourceType;

crate::arm_enum! {
    /// Every stable api-version this provider serves, in date order.
    pub enum ApiVersion {
        V2022_03_01 = "2022-03-01",
        V2022_07_01 = "2022-07-01",
        V2022_11_01 = "2022-11-01",
        V2023_05_01 = "2023-05-01",
        V2024_11_01 = "2024-11-01",
        V2025_03_01 = "2025-03-01",
        V2025_04_01 = "2025-04-01",
    }
}

use ApiVersion::*;

const FLUX_VERSIONS: &[ApiVersion] = &[
    V2022_03_01,
    V2022_07_01,
    V2022_11_01,
    V2023_05_01,
    V2024_11_01,
    V2025_04_01,
];
const EXTENSION_VERSIONS: &[ApiVersion] = &[
    V2022_03_01,
    V2022_07_01,
    V2022_11_01,
    V2023_05_01,
    V2024_11_01,
    V2025_03_01,
];
const SOURCE_CONTROL_VERSIONS: &[ApiVersion] =
    &[V2022_03_01, V2022_07_01, V2022_11_01, V2023_05_01, V2024_11_01];
/// `GET /providers/Microsoft.KubernetesConfiguration/operations` answers in any version the provider has.
const PROVIDER_OPERATIONS_VERSIONS: &[ApiVersion] = ApiVersion::ALL;
/// The subscription lifecycle notifications ARM sends to every resource provider.
pub const SUBSCRIPTION_NOTIFICATION_VERSION: &str = "2.0";

/// What a request addresses, for picking the api-versions it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiSurface {
    Resource(ResourceType),
    /// `{cluster}/providers/Microsoft.KubernetesConfiguration/operations` (OperationStatus_List of the extensions spec).
    ClusterOperations,
    /// `/providers/Microsoft.KubernetesConfiguration/operations`.
    ProviderOperations,
}

impl ApiSurface {
    pub fn supported(self) -> &'static [ApiVersion] {
        match self {
            ApiSurface::Resource(ResourceType::FluxConfigurations) => FLUX_VERSIONS,
            ApiSurface::Resource(ResourceType::Extensions) | ApiSurface::ClusterOperations => {
                EXTENSION_VERSIONS
            }
            ApiSurface::Resource(ResourceType::SourceControlConfigurations) => SOURCE_CONTROL_VERSIONS,
            ApiSurface::ProviderOperations => PROVIDER_OPERATIONS_VERSIONS,
        }
    }

    /// The `api-version` query value of a request, checked against what this surface serves.
    pub fn parse(self, raw: Option<&str>) -> Result<ApiVersion, ArmError> {
        let supported = self.supported();
        let Some(raw) = raw.filter(|v| !v.is_empty()) else {
            return Err(ArmError::new(
                400,
                codes::MISSING_API_VERSION,
                format!(
                    "The api-version query parameter (?api-version=) is required for all requests. The supported versions are '{}'.",
                    list(supported)
                ),
            ));
        };
        ApiVersion::parse(raw)
            .filter(|v| supported.contains(v))
            .ok_or_else(|| {
                ArmError::new(
                    400,
                    codes::INVALID_API_VERSION,
                    format!(
                        "The api-version '{}' is invalid. The supported versions are '{}'.",
                        crate::ids::printable(raw),
                        list(supported)
                    ),
                )
            })
    }
}

/// The `api-version` of a request to a surface whose versions are listed as text (Azure Policy's, which are
/// not this provider's), with the same errors as `ApiSurface::parse`.
pub fn check_listed(raw: Option<&str>, supported: &[&'static str]) -> Result<&'static str, ArmError> {
    let listed = supported.join(",");
    let Some(raw) = raw.filter(|v| !v.is_empty()) else {
        return Err(ArmError::new(
            400,
            codes::MISSING_API_VERSION,
            format!(
                "The api-version query parameter (?api-version=) is required for all requests. The supported versions are '{listed}'."
            ),
        ));
    };
    supported
        .iter()
        .copied()
        .find(|v| v.eq_ignore_ascii_case(raw))
        .ok_or_else(|| {
            ArmError::new(
                400,
                codes::INVALID_API_VERSION,
                format!(
                    "The api-version '{}' is invalid. The supported versions are '{listed}'.",
                    crate::ids::printable(raw)
                ),
            )
        })
}

fn list(versions: &[ApiVersion]) -> String {
    versions.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_unknown_versions_name_the_supported_ones() {
        let flux = ApiSurface::Resource(ResourceType::FluxConfigurations);
        let missing = flux.parse(None).unwrap_err();
        assert_eq!(missing.code, codes::MISSING_API_VERSION);
        let unknown = flux.parse(Some("2025-03-01")).unwrap_err();
        assert_eq!(unknown.code, codes::INVALID_API_VERSION);
        assert!(
            unknown.message.contains("2022-03-01,2022-07-01"),
            "{}",
            unknown.message
        );
        assert_eq!(flux.parse(Some("2025-04-01")).unwrap(), ApiVersion::V2025_04_01);
        assert_eq!(
            ApiSurface::Resource(ResourceType::Extensions)
                .parse(Some("2025-03-01"))
                .unwrap(),
            ApiVersion::V2025_03_01
        );
    }
}
