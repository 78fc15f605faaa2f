import Foundation
@testable import Atelier

/// What the PyTorch scripts in Tests/Reference read to recompute a test's
/// reference figures: the model's trainable weights (weights.f32, in
/// names.json's order), the inputs of each step (A.f32, B.f32) and
/// meta.json. Written when the test's export variable names a folder.
enum ReferenceExport {
    static func write(_ model: TrainingModel, on backend: Backend, a: [[Float]], b: [[Float]], meta: [String: Int], to folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let trainable = model.namedParameters.filter(\.parameter.trainable)
        func write(_ values: [Float], _ name: String) throws {
            try values.withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: folder + "/" + name))
        }
        try write(try trainable.flatMap { try backend.read(try $0.parameter.bound()) }, "weights.f32")
        try JSONSerialization.data(withJSONObject: trainable.map(\.name)).write(to: URL(fileURLWithPath: folder + "/names.json"))
        try write(a.flatMap { $0 }, "A.f32")
        try write(b.flatMap { $0 }, "B.f32")
        try JSONSerialization.data(withJSONObject: meta).write(to: URL(fileURLWithPath: folder + "/meta.json"))
    }
}
