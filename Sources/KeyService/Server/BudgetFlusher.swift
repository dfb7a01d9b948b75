import Logging
import ServiceLifecycle

/// Adds this replica's unwrap counts to the key store's ledger every `budget.flushInterval`,
/// and once more at shutdown, so the per-user budget is counted across replicas.
struct BudgetFlusher: Service {
    let budget: UnwrapBudget
    let store: any KeyStore
    let logger: Logger

    func run() async throws {
        var failing = false
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await Task.sleep(for: budget.flushInterval)
            do {
                try await budget.flush(to: store)
                if failing { logger.notice("unwrap counts reach the key store again") }
                failing = false
            } catch {
                // The counts stay here and go with the next flush.
                if !failing { logger.warning("cannot add unwrap counts to the key store", metadata: ["error": "\(error)"]) }
                failing = true
            }
        }
        try? await budget.flush(to: store)
    }
}
