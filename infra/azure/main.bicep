// What clusterconfig needs in Azure, in one resource group:
//   - a Cosmos DB for NoSQL account, database and container (partition key /pk, per-item TTL on), local
//     (key) auth off: the service reaches it with Entra ID only;
//   - a Key Vault (RBAC) with the RSA key that wraps the data-encryption keys;
//   - a user-assigned managed identity for the service (for AKS workload identity, federate it with the
//     service account of infra/kubernetes), with the data-plane roles it needs and nothing more.
//
// az deployment group create -g <group> -f infra/azure/main.bicep -p namePrefix=<prefix>
// Then configure the service with the outputs (README, "Running in Azure").

@description('A short prefix for resource names (letters and digits).')
@minLength(3)
@maxLength(12)
param namePrefix string

param location string = resourceGroup().location

@description('Regions the Cosmos DB account replicates to, the first being the write region.')
param cosmosRegions array = [
  location
]

@description('Autoscale ceiling of the container, in RU/s (it scales down to a tenth of this).')
param maxThroughput int = 4000

@description('The database and container names the service is configured with (store.cosmos.database, .container).')
param databaseName string = 'clusterconfig'
param containerName string = 'clusterconfig'

@description('The OIDC issuer of the AKS cluster that runs the service, for workload identity; empty to skip.')
param aksOidcIssuer string = ''
param kubernetesNamespace string = 'clusterconfig'
param kubernetesServiceAccount string = 'clusterconfig'

var suffix = uniqueString(resourceGroup().id, namePrefix)

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${namePrefix}-clusterconfig'
  location: location
}

resource federation 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials@2023-01-31' = if (!empty(aksOidcIssuer)) {
  parent: identity
  name: 'aks-${kubernetesNamespace}-${kubernetesServiceAccount}'
  properties: {
    issuer: aksOidcIssuer
    subject: 'system:serviceaccount:${kubernetesNamespace}:${kubernetesServiceAccount}'
    audiences: [
      'api://AzureADTokenExchange'
    ]
  }
}

resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  name: toLower('${namePrefix}cc${suffix}')
  location: location
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    // Session: a writer reads its own writes; the service conditions every write on what it read.
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    locations: [for (region, i) in cosmosRegions: {
      locationName: region
      failoverPriority: i
      isZoneRedundant: false
    }]
    enableAutomaticFailover: true
    disableLocalAuth: true
    minimalTlsVersion: 'Tls12'
    backupPolicy: {
      type: 'Continuous'
      continuousModeProperties: {
        tier: 'Continuous7Days'
      }
    }
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  parent: cosmos
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
  }
}

resource container 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = {
  parent: database
  name: containerName
  properties: {
    resource: {
      id: containerName
      // One logical partition per cluster (and one each for subscriptions, data keys, feed checkpoints).
      partitionKey: {
        paths: [
          '/pk'
        ]
        kind: 'Hash'
        version: 2
      }
      // -1: no default expiry, but items that carry a `ttl` (secrets, finished operations) expire.
      defaultTtl: -1
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        includedPaths: [
          {
            path: '/*'
          }
        ]
        // Sealed bodies are never queried.
        excludedPaths: [
          {
            path: '/body/?'
          }
          {
            path: '/wrapped/?'
          }
          {
            path: '/"_etag"/?'
          }
        ]
      }
    }
    options: {
      autoscaleSettings: {
        maxThroughput: maxThroughput
      }
    }
  }
}

// Cosmos DB Built-in Data Contributor (a data-plane role: items, queries, change feed; no control plane).
resource cosmosData 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = {
  parent: cosmos
  name: guid(cosmos.id, identity.id, 'data-contributor')
  properties: {
    roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002'
    principalId: identity.properties.principalId
    scope: cosmos.id
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: toLower('${namePrefix}kv${take(suffix, 8)}')
  location: location
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'premium'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // The key wraps every data-encryption key: it must not be purged by mistake.
    enablePurgeProtection: true
  }
}

resource kek 'Microsoft.KeyVault/vaults/keys@2023-07-01' = {
  parent: vault
  name: 'clusterconfig-kek'
  properties: {
    kty: 'RSA-HSM'
    keySize: 3072
    keyOps: [
      'wrapKey'
      'unwrapKey'
    ]
    rotationPolicy: {
      lifetimeActions: [
        {
          trigger: {
            timeAfterCreate: 'P180D'
          }
          action: {
            type: 'rotate'
          }
        }
      ]
    }
  }
}

// Key Vault Crypto Service Encryption User: wrap and unwrap with the key, read its public part; nothing else.
resource kekUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: kek
  name: guid(kek.id, identity.id, 'crypto-service-encryption-user')
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'e147488a-f6f5-4113-8e2d-b22465e65bf6')
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

output identityClientId string = identity.properties.clientId
output identityResourceId string = identity.id
output cosmosEndpoint string = cosmos.properties.documentEndpoint
output cosmosDatabase string = databaseName
output cosmosContainer string = containerName
output vaultUrl string = vault.properties.vaultUri
output keyName string = kek.name
