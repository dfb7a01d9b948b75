/// The SplitKey release this build belongs to.
public enum SplitKeyVersion {
    public static let current = "0.1.0"
}
