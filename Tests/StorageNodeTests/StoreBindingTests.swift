import Testing

@testable import StorageNode

/// The rule that ties a blob store to one metadata database, without a process.
struct StoreBindingTests {
    let id = "3f0c9a1e5b7d4c2a8e6f1b3d5a7c9e0f"

    @Test func anUnlabelledStoreIsLabelledWithTheDatabase() {
        #expect(StoreBinding.decide(databaseID: id, label: nil) == .bind(StoreBinding.label(for: id)))
        #expect(StoreBinding.databaseID(in: StoreBinding.label(for: id)) == id)
    }

    @Test func aStoreLabelledWithTheDatabaseIsBound() {
        #expect(StoreBinding.decide(databaseID: id, label: StoreBinding.label(for: id)) == .bound)
    }

    @Test func aStoreOfAnotherDatabaseIsRefused() {
        let other = "0123456789abcdef0123456789abcdef"
        #expect(StoreBinding.decide(databaseID: id, label: StoreBinding.label(for: other)) == .refuse(labelled: other))
    }

    @Test(arguments: [
        "", "splitkey-storagenode-blobs v1\n", "splitkey-storagenode-blobs v2\nmetadata abc\n",
        "splitkey-storagenode-blobs v1\nmetadata \n", "splitkey-storagenode-blobs v1\nmetadata abc",
        "splitkey-storagenode-blobs v1\nmetadata a b\n", "splitkey-storagenode-blobs v1\nmetadata abc\nmore\n",
        "splitkey-storagenode-blobs v1\nowner abc\n",
    ])
    func aLabelThatIsNotOursIsRefusedNotOverwritten(_ text: String) {
        #expect(StoreBinding.decide(databaseID: id, label: Array(text.utf8)) == .refuse(labelled: nil))
    }

    @Test func theRefusalSaysWhatToCheck() {
        let message = "\(StoreBindingError.belongsToAnotherDatabase(labelled: "aaaa", database: id))"
        #expect(message.contains("aaaa") && message.contains(id))
        #expect(message.contains("orphans") && message.contains("splitkey-label") && message.contains("blobs.label"))
    }
}
