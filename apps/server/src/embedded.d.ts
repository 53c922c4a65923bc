// Files the server reads at run time, imported `with { type: 'file' }` so that `bun build --compile`
// embeds them in the single executable: the import gives their path, on disk or in the binary.
declare module '*/demo.js' {
  const path: string
  export default path
}
