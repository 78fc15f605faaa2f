import AtelierDevices
import AtelierGraph
import CAtelier
import Foundation

/// Errors reading a dataset, each naming the file and the fix.
public struct DatasetError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The IDX format of MNIST and Fashion-MNIST (gzip'd or plain).
public enum IDX {
    /// Dimensions and bytes of an unsigned-byte IDX file.
    public static func read(_ path: String) throws -> (dims: [Int], bytes: [UInt8]) {
        let data = try decompress(path)
        guard data.count >= 4, data[0] == 0, data[1] == 0 else {
            throw DatasetError("\(path) is not an IDX file (bad magic number); re-download it or reinstall dataset-fashion-mnist")
        }
        guard data[2] == 0x08 else {
            throw DatasetError("\(path) holds IDX type 0x\(String(data[2], radix: 16)), not unsigned bytes (0x08)")
        }
        let rank = Int(data[3])
        guard rank >= 1, data.count >= 4 + 4 * rank else { throw DatasetError("\(path) is truncated in its header") }
        var dims: [Int] = []
        for i in 0..<rank {
            let o = 4 + 4 * i
            dims.append(Int(data[o]) << 24 | Int(data[o + 1]) << 16 | Int(data[o + 2]) << 8 | Int(data[o + 3]))
        }
        let body = data.count - (4 + 4 * rank)
        guard let expected = CheckedSize.product(dims) else {
            throw DatasetError("\(path) claims dimensions \(dims), more bytes than any file holds: the file is corrupt; re-download it or reinstall dataset-fashion-mnist")
        }
        guard body == expected else {
            throw DatasetError("\(path) should hold \(expected) bytes of data for dimensions \(dims) but holds \(body): the file is truncated or corrupt")
        }
        return (dims, Array(data[(4 + 4 * rank)...]))
    }

    /// The file's bytes, gunzipped when it is gzip'd (zlib reads both).
    static func decompress(_ path: String) throws -> [UInt8] {
        guard FileManager.default.fileExists(atPath: path) else {
            throw DatasetError("\(path) does not exist")
        }
        guard let file = gzopen(path, "rb") else { throw DatasetError("cannot open \(path)") }
        defer { gzclose(file) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
            if n < 0 {
                var code: Int32 = 0
                let message = gzerror(file, &code).map { String(cString: $0) } ?? "unknown error"
                throw DatasetError("\(path) is corrupt (\(message)); re-download it or reinstall dataset-fashion-mnist")
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<Int(n)])
        }
        return out
    }
}
