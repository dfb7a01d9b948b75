import NIOCore
import Shared

/// One upload into an ``S3BlobStore``. Bytes are buffered up to one part; a blob that fits one
/// part is a single PUT at ``commit()``, a larger one a multipart upload whose parts go out as
/// they fill, so an upload holds about one part in memory whatever the blob's size.
///
/// An actor: the writes of one upload come from one task in order, and the actor keeps the
/// buffer and the part list consistent across the awaits of the network calls.
actor S3BlobUpload: BlobUpload {
    nonisolated let name: String
    let key: String
    let store: S3BlobStore

    private var buffer = ByteBuffer()
    private var multipart: S3MultipartUpload?
    private var parts: [S3UploadedPart] = []
    private var committed = false

    init(name: String, key: String, store: S3BlobStore) {
        self.name = name
        self.key = key
        self.store = store
    }

    func write(_ chunk: ByteBuffer) async throws(BlobStoreError) {
        guard !committed else { throw .io("write to blob \(name) after its commit") }
        var chunk = chunk
        buffer.writeBuffer(&chunk)
        // Strictly more than a part: a blob of exactly one part stays a single PUT.
        while buffer.readableBytes > store.partSize {
            let part = buffer.readSlice(length: store.partSize)!
            try await uploadPart(part)
        }
        buffer.discardReadBytes()
    }

    func commit() async throws(BlobStoreError) {
        guard !committed else { return }
        do {
            if let multipart {
                if buffer.readableBytes > 0 { try await uploadPart(buffer) }
                try await store.client.completeMultipartUpload(multipart, parts: parts)
            } else {
                try await store.client.putObject(key: key, body: buffer)
            }
        } catch let error as S3Error {
            throw S3BlobStore.mapped(error, name: name)
        } catch let error as BlobStoreError {
            throw error
        } catch {
            throw .io("\(error)")
        }
        committed = true
        buffer = ByteBuffer()
        parts = []
    }

    func abort() async {
        guard !committed else { return }
        buffer = ByteBuffer()
        guard let multipart else { return }
        self.multipart = nil
        parts = []
        do {
            try await store.client.abortMultipartUpload(multipart)
        } catch {
            // Its parts stay in the bucket, invisible to listings, until the bucket's lifecycle
            // rule for incomplete uploads removes them.
            store.logger.warning(
                "aborting a multipart upload failed; its parts stay until the bucket's lifecycle rule removes them",
                metadata: ["key": "\(key)", "upload": "\(multipart.uploadID)", "error": "\(error)"])
        }
    }

    private func uploadPart(_ body: ByteBuffer) async throws(BlobStoreError) {
        let number = parts.count + 1
        guard S3MultipartUpload.partNumbers.contains(number) else {
            throw .full(
                "blob \(name) needs more than \(S3MultipartUpload.partNumbers.upperBound) parts of \(store.partSize) bytes; raise blobs.s3.partSize"
            )
        }
        do {
            let upload: S3MultipartUpload
            if let multipart {
                upload = multipart
            } else {
                upload = try await store.client.createMultipartUpload(key: key)
                multipart = upload
            }
            parts.append(try await store.client.uploadPart(upload, number: number, body: body))
        } catch {
            throw S3BlobStore.mapped(error, name: name)
        }
    }
}
