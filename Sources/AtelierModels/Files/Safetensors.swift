import AtelierDevices
import AtelierGraph
import Foundation

/// The safetensors format (float32 only): an 8-byte little-endian header
/// length, a JSON header naming each tensor's dtype, shape and byte range,
/// then the raw data. Python's `safetensors` package reads these files.
public enum Safetensors {
    public struct Entry: Sendable {
        public var name: String
        public var shape: [Int]
        public var values: [Float]
        public init(name: String, shape: [Int], values: [Float]) {
            self.name = name
            self.shape = shape
            self.values = values
        }
    }

    public static func encode(_ entries: [Entry], metadata: [String: String]) throws -> Data {
        var header: [String: Any] = ["__metadata__": metadata]
        var offset = 0
        for e in entries {
            guard e.values.count == e.shape.reduce(1, *) else {
                throw CheckpointError("tensor \(e.name): \(e.values.count) values for shape \(e.shape)")
            }
            header[e.name] = ["dtype": "F32", "shape": e.shape, "data_offsets": [offset, offset + 4 * e.values.count]]
            offset += 4 * e.values.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // Pad the header with spaces to 8 bytes, as the reference writer does.
        while json.count % 8 != 0 { json.append(0x20) }
        var data = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        for e in entries {
            e.values.withUnsafeBytes { data.append(contentsOf: $0) }  // little-endian hosts only
        }
        return data
    }

    public static func decode(_ data: Data, source: String) throws -> (entries: [String: Entry], metadata: [String: String]) {
        func fail(_ why: String) -> CheckpointError {
            CheckpointError("\(source) is not a valid safetensors file (\(why)); it may be truncated or from another program")
        }
        guard data.count >= 8 else { throw fail("too short") }
        let length = data.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard length <= UInt64(data.count - 8) else { throw fail("header length \(length) exceeds the file") }
        let headerEnd = 8 + Int(length)
        guard let header = try? JSONSerialization.jsonObject(with: data[8..<headerEnd]) as? [String: Any] else {
            throw fail("unreadable header")
        }
        let body = data[headerEnd...]
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                metadata = value as? [String: String] ?? [:]
                continue
            }
            guard let info = value as? [String: Any], info["dtype"] as? String == "F32",
                  let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2,
                  offsets[0] >= 0, offsets[1] >= offsets[0], offsets[1] <= body.count else {
                throw fail("bad entry for \(name)")
            }
            guard let count = CheckedSize.product(shape), count <= body.count / 4, offsets[1] - offsets[0] == 4 * count else {
                throw fail("the shape \(shape) of \(name) does not match its \(offsets[1] - offsets[0]) bytes")
            }
            let bytes = body[(body.startIndex + offsets[0])..<(body.startIndex + offsets[1])]
            let values = bytes.withUnsafeBytes { raw in
                (0..<raw.count / 4).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) }
            }
            entries[name] = Entry(name: name, shape: shape, values: values)
        }
        return (entries, metadata)
    }
}

public struct CheckpointError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
